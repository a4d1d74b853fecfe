"""The Flask app factory: load everything a call needs once, then serve Twilio and the API.

Loading happens at start-up, not on the first call, so that a bad flow, a missing model or an
unwritable database stop the service with one clear message before Twilio sends a caller, and
so that the first caller does not wait for a model to load or prompts to be rendered.
Tests pass their own engine/flow/renderer/store (e.g. an engine wrapper that raises, for fault
injection); everything else comes from Settings.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Flask

from voicebot.errors import SettingsError
from voicebot.logs import log_event
from voicebot.records.hashing import load_hash_key
from voicebot.records.store import CallStore
from voicebot.settings import Settings
from voicebot.telephony.security import SignatureGuard

log = logging.getLogger("voicebot.app")


@dataclass
class Service:
    """What every request and every call shares (one per app)."""

    settings: Settings
    flow: Any
    engine: Any
    renderer: Any
    store: CallStore
    guard: SignatureGuard
    allowed_queues: frozenset[str] = field(default_factory=frozenset)
    fallback_queue: str = "support"

    def deps(self) -> Any:
        from voicebot.flow.lookup import perform
        from voicebot.telephony.driver import CallDeps

        return CallDeps(
            flow=self.flow,
            engine=self.engine,
            renderer=self.renderer,
            lookup=perform,
            recorder=self.store,
            endpoint=self.settings.endpoint,
            fallback_queue=self.fallback_queue,
        )

    def new_driver(self) -> Any:
        from voicebot.telephony.driver import CallDriver

        return CallDriver(self.deps())


def fallback_queue(settings: Settings, flow: Any) -> str:
    """VOICEBOT_FALLBACK_QUEUE if set, else the flow's own fallback queue."""
    return settings.fallback_queue or getattr(flow, "fallback_queue", None) or "support"


def allowed_queues(settings: Settings, flow: Any) -> frozenset[str]:
    """Queues the service may enqueue into; a flow naming any other is a start-up error."""
    flow_queues = set(flow.queues()) | {fallback_queue(settings, flow)}
    if not settings.queues:
        return frozenset(flow_queues)
    allowed = set(settings.queues)
    unknown = sorted(flow_queues - allowed)
    if unknown:
        raise SettingsError(
            f"the flow {flow.path} (and VOICEBOT_FALLBACK_QUEUE) name queue(s) "
            f"{', '.join(unknown)} that VOICEBOT_QUEUES does not allow "
            f"({', '.join(sorted(allowed))})")
    return frozenset(allowed)


WARM_GRAMMAR_PHRASES = ("yes", "no", "agent")


def first_turn_grammar(flow: Any) -> Any:
    """The grammar of the flow's first listen, built the way the call session builds it.

    Every call starts there, and an engine compiles a grammar once per decoder (about a second
    for pocketsphinx, holding the GIL), so warming with it spares the first answers of
    simultaneous callers that wait.
    """
    from voicebot.speech.types import Grammar

    try:
        from voicebot.flow.events import Listen
        from voicebot.flow.interpreter import FlowSession
        from voicebot.telephony.session import turn_grammar

        listen = next(a for a in FlowSession(flow).start() if isinstance(a, Listen))
        return turn_grammar(listen)
    except Exception:  # noqa: BLE001 - only an optimisation
        return Grammar(phrases=WARM_GRAMMAR_PHRASES, allow_digits=True)


def warm_recognizers(engine: Any, count: int, grammar: Any = None) -> int:
    """Make `count` recognizers hear audio at once, so that many decoders exist up front.

    Engines pool their decoders and build one when the pool is empty (~0.3 s, or seconds when
    twenty callers arrive together); warming moves that cost to start-up. Uses only the
    public Recognizer API: each recognizer holds a decoder from its first audio to finish().
    """
    from voicebot.speech.types import Grammar

    grammar = grammar or Grammar(phrases=WARM_GRAMMAR_PHRASES, allow_digits=True)
    silence = b"\x00" * 16000  # 1 s: engines start decoding after some audio
    held = []
    try:
        for _ in range(count):
            recognizer = engine.recognizer(grammar)
            recognizer.accept(silence)
            held.append(recognizer)
    except Exception as exc:  # noqa: BLE001 - calls will fail safe; say so now
        log_event(log, "service.warm_failed", logging.WARNING, error=type(exc).__name__,
                  detail=str(exc)[:200])
    for recognizer in held:
        with contextlib.suppress(Exception):
            recognizer.finish()
    return len(held)


def create_app(settings: Settings, *, engine: Any = None, flow: Any = None,
               renderer: Any = None, store: CallStore | None = None) -> Flask:
    """Build the service. Raises VoicebotError subclasses (FlowError, SettingsError...)."""
    if flow is None:
        from voicebot.flow.loader import load_flow

        flow = load_flow(settings.flow_path)
    if settings.fallback_queue and hasattr(flow, "fallback_queue"):
        # One fallback queue for every fault, whether the flow hands over (and names the
        # queue to the caller) or the stream drops: the operator's setting wins.
        flow = replace(flow, fallback_queue=settings.fallback_queue)
    queues = allowed_queues(settings, flow)
    if engine is None:
        from voicebot.speech.engines import load_engine

        engine = load_engine(settings.engine, model_dir=settings.model_dir,
                             vosk_model=settings.vosk_model,
                             decode_deadline_s=settings.decode_deadline_s)
        # Real decodes, not just compiled grammars: a decoder's first decode is slow, and
        # warming with engine.warm alone measured menu p95 ~1 s instead of ~0.5 s (20 calls).
        warmed = warm_recognizers(engine, settings.warm_recognizers, first_turn_grammar(flow))
        log_event(log, "service.recognizers_warmed", count=warmed)
    if renderer is None:
        from voicebot.speech.tts import PromptRenderer

        renderer = PromptRenderer(settings.tts_cache, voice=getattr(flow, "voice", None),
                                  rate=getattr(flow, "rate", None),
                                  render_timeout=settings.tts_deadline_s)
        prompts = sorted(flow.static_prompts())
        renderer.prewarm(prompts)
        log_event(log, "service.prompts_prewarmed", count=len(prompts))
    if store is None:
        store = CallStore(settings.db_path, load_hash_key(settings.hash_key, settings.db_path))
    guard = SignatureGuard(settings.twilio_auth_token, settings.public_url,
                           insecure=settings.insecure_no_signature)
    if guard.insecure:
        log_event(log, "service.insecure_no_signature", logging.WARNING,
                  detail="Twilio signatures are NOT checked: local development only")

    svc = Service(settings=settings, flow=flow, engine=engine, renderer=renderer, store=store,
                  guard=guard, allowed_queues=queues,
                  fallback_queue=fallback_queue(settings, flow))
    app = Flask("voicebot")
    app.extensions["voicebot"] = svc

    from voicebot.telephony import routes_api, routes_twilio

    app.register_blueprint(routes_twilio.make_blueprint(svc))
    app.register_blueprint(routes_api.make_blueprint(svc))
    log_event(log, "service.ready", flow=flow.name, flow_version=flow.version,
              engine=getattr(engine, "name", "?"), model=getattr(engine, "model", "?"),
              public_url=settings.public_url, queues=sorted(queues),
              db=str(settings.db_path))
    return app


def wsgi() -> Flask:
    """Entry point for WSGI servers (gunicorn -k gthread ... 'voicebot.telephony.app:wsgi()')."""
    from voicebot import logs

    settings = Settings.from_env()
    settings.require_serving()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)
