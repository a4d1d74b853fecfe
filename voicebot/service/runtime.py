"""What every request and call of the service shares, loaded once at start-up.

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

from voicebot.errors import SettingsError
from voicebot.flow.events import Listen
from voicebot.flow.interpreter import FlowSession
from voicebot.flow.loader import load_flow
from voicebot.flow.lookup import perform
from voicebot.flow.model import Flow
from voicebot.logs import log_event
from voicebot.records.hashing import restore_key_file
from voicebot.records.opening import hash_key, open_store, store_location
from voicebot.records.resilient import ResilientRecords
from voicebot.records.store import CallStore
from voicebot.service.security import SignatureGuard
from voicebot.settings import Settings
from voicebot.speech.engines import engine_from_settings
from voicebot.speech.tts import PromptRenderer
from voicebot.speech.turn_end import turn_grammar
from voicebot.speech.types import Engine, Grammar
from voicebot.telephony.driver import CallDeps, CallDriver, Renderer
from voicebot.telephony.session.core import FALLBACK_HANDOVER

log = logging.getLogger("voicebot.app")

WARM_GRAMMAR_PHRASES = ("yes", "no", "agent")


@dataclass
class Service:
    """What every request and every call shares (one per app)."""

    settings: Settings
    flow: Flow
    engine: Engine
    renderer: Renderer
    store: ResilientRecords
    guard: SignatureGuard
    allowed_queues: frozenset[str] = field(default_factory=frozenset)
    fallback_queue: str = "support"

    def deps(self) -> CallDeps:
        return CallDeps(
            flow=self.flow,
            engine=self.engine,
            renderer=self.renderer,
            lookup=perform,
            recorder=self.store,
            endpoint=self.settings.endpoint,
            fallback_queue=self.fallback_queue,
        )

    def new_driver(self) -> CallDriver:
        return CallDriver(self.deps())


def load_service(settings: Settings, *, engine: Engine | None = None, flow: Flow | None = None,
                 renderer: Renderer | None = None, store: CallStore | None = None) -> Service:
    """Load the flow, engine, prompts and call store. Raises VoicebotError subclasses."""
    if flow is None:
        flow = load_flow(settings.flow_path)
    if settings.fallback_queue and hasattr(flow, "fallback_queue"):
        # One fallback queue for every fault, whether the flow hands over (and names the
        # queue to the caller) or the stream drops: the operator's setting wins.
        flow = replace(flow, fallback_queue=settings.fallback_queue)
    queues = allowed_queues(settings, flow)
    # first: a database that is down or needs an upgrade stops us early
    records = open_records(settings, store)
    if engine is None:
        engine = engine_from_settings(settings)
        # Real decodes, not just compiled grammars: a decoder's first decode is slow.
        grammar = first_turn_grammar(flow)
        warmed = warm_recognizers(engine, settings.warm_recognizers, grammar)
        with contextlib.suppress(Exception):  # engines that pool decoders warm replacements
            getattr(engine, "warm", lambda _g: None)(grammar)
        log_event(log, "service.recognizers_warmed", count=warmed)
    if renderer is None:
        renderer = PromptRenderer(settings.tts_cache, voice=getattr(flow, "voice", None),
                                  rate=getattr(flow, "rate", None),
                                  render_timeout=settings.tts_deadline_s)
    keep_prompts(renderer, flow)
    guard = SignatureGuard(settings.twilio_auth_token, settings.public_url,
                           insecure=settings.insecure_no_signature)
    if guard.insecure:
        log_event(log, "service.insecure_no_signature", logging.WARNING,
                  detail="Twilio signatures are NOT checked: local development only")
    return Service(settings=settings, flow=flow, engine=engine, renderer=renderer,
                   store=records, guard=guard, allowed_queues=queues,
                   fallback_queue=fallback_queue(settings, flow))


def keep_prompts(renderer: Renderer, flow: Flow) -> None:
    """Render every fixed prompt now and keep it in memory: above all every hand-over text
    (the flow's per reason and queue, and the session's own), so the caller always hears
    why they are handed over, even with the speech worker hung or the prompt cache gone."""
    prewarm = getattr(renderer, "prewarm", None)
    if prewarm is None:
        return
    prompts = sorted(flow.static_prompts() | {FALLBACK_HANDOVER})
    prewarm(prompts)
    log_event(log, "service.prompts_kept", count=len(prompts),
              kb=round(getattr(renderer, "kept_bytes", 0) / 1024))


def open_records(settings: Settings, store: CallStore | None = None) -> ResilientRecords:
    """The call store behind ResilientRecords (a given store is wrapped as it is). A SQLite
    file removed under the running service is made again (with its generated key)."""
    key = hash_key(settings)
    sqlite = not settings.database_url

    def reopen() -> CallStore:
        if sqlite and not settings.hash_key:
            restore_key_file(key, settings.db_path)
        return CallStore(store_location(settings), key, pool_size=settings.db_pool_size,
                         timeout_s=settings.db_timeout_s)

    given = store is not None
    return ResilientRecords(
        store if given else open_store(settings), hash_key=key,
        spool_dir=settings.records_spool or settings.db_path.parent / "spool",
        reopen=None if given else reopen,
        db_path=settings.db_path if sqlite and not given else None,
        deadline_s=settings.db_deadline_s, pending_max=settings.records_pending_max)


def fallback_queue(settings: Settings, flow: Flow) -> str:
    """VOICEBOT_FALLBACK_QUEUE if set, else the flow's own fallback queue."""
    return settings.fallback_queue or getattr(flow, "fallback_queue", None) or "support"


def allowed_queues(settings: Settings, flow: Flow) -> frozenset[str]:
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


def first_turn_grammar(flow: Flow) -> Grammar:
    """The grammar of the flow's first listen, built the way the call session builds it.

    Every call starts there, and an engine compiles a grammar once per decoder (about a second
    for pocketsphinx, holding the GIL), so warming with it spares the first answers of
    simultaneous callers that wait.
    """
    try:
        listen = next(a for a in FlowSession(flow).start() if isinstance(a, Listen))
        return turn_grammar(listen)
    except Exception:  # noqa: BLE001 - only an optimisation
        return Grammar(phrases=WARM_GRAMMAR_PHRASES, allow_digits=True)


def warm_recognizers(engine: Engine, count: int, grammar: Grammar | None = None) -> int:
    """Make `count` recognizers hear audio at once, so that many decoders exist up front.

    Engines pool their decoders and build one when the pool is empty (~0.3 s, or seconds when
    twenty callers arrive together); warming moves that cost to start-up. Uses only the
    public Recognizer API: each recognizer holds a decoder from its first audio to finish().
    """
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
