"""Every setting of the service, read from the environment in one place and checked at start-up.

`Settings.from_env()` reports every problem at once (SettingsError), so an operator fixes
the configuration in one go instead of one crash at a time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from voicebot.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FLOW = PROJECT_ROOT / "call_flows" / "support.yaml"
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"
ENGINES = ("auto", "vosk", "pocketsphinx", "whisper", "cascade")

# name -> (meaning, default) ; the README's settings table is written from this.
DOCUMENTED: dict[str, tuple[str, str]] = {
    "VOICEBOT_PUBLIC_URL": ("Public base URL as Twilio reaches the service (https://...); "
                            "used for stream URLs and signature checks", "http://127.0.0.1:8080"),
    "TWILIO_AUTH_TOKEN": ("Twilio auth token; checks X-Twilio-Signature on every request",
                          "(none: the service refuses to start)"),
    "VOICEBOT_INSECURE_NO_SIGNATURE": ("1 accepts unsigned requests: local development only",
                                       "0"),
    "VOICEBOT_FLOW": ("Call-flow YAML file", "call_flows/support.yaml"),
    "VOICEBOT_ENGINE": ("Recognition engine: auto | vosk | pocketsphinx | whisper | cascade",
                        "auto"),
    "VOICEBOT_MODEL_DIR": ("Where Vosk models live", "models/"),
    "VOICEBOT_VOSK_MODEL": ("A Vosk model directory (overrides the search in the model dir)",
                            ""),
    # -- the whisper engine (one block, see Settings.from_env)
    "VOICEBOT_WHISPER_MODEL": ("A CTranslate2 Whisper model directory (overrides "
                               "models/whisper-tiny.en and the packaged weights)", ""),
    "VOICEBOT_WHISPER_THREADS": ("Whisper decodes run at once, one CPU each; 0: one per CPU",
                                 "0"),
    "VOICEBOT_DB": ("SQLite file for call records", "var/voicebot.sqlite3"),
    "VOICEBOT_HASH_KEY": ("Key for hashing caller numbers (HMAC-SHA256)",
                          "generated once into var/hash.key"),
    "VOICEBOT_API_TOKEN": ("Bearer token for GET /calls/<CallSid>/... (agent desktop)",
                           "(none: those routes answer 403)"),
    "VOICEBOT_FALLBACK_QUEUE": ("Queue a call goes to when anything breaks",
                                "(the flow's fallback_queue)"),
    "VOICEBOT_QUEUES": ("Comma-separated queue names the service may enqueue into",
                        "(every queue the flow names)"),
    "VOICEBOT_QUEUE_BACKUP_AFTER": ("Seconds in a queue before the backup channels are offered",
                                    "120"),
    "VOICEBOT_HOST": ("Address `voicebot serve` listens on", "127.0.0.1"),
    "VOICEBOT_PORT": ("Port `voicebot serve` listens on", "8080"),
    "VOICEBOT_HOLD_MUSIC_URL": ("Audio URL played to callers waiting in a queue (Twilio <Play>)",
                                "(none: silence between hold messages)"),
    "VOICEBOT_WARM_RECOGNIZERS": ("Recognizers run on silence at start-up, so the first "
                                  "callers don't pay for a decoder's first decode", "8"),
    "VOICEBOT_TTS_CACHE": ("Directory of rendered prompts", "var/tts-cache"),
    "VOICEBOT_VAD_AGGRESSIVENESS": ("webrtcvad aggressiveness 0..3", "2"),
    "VOICEBOT_SPEECH_START_MS": ("Voiced time before speech counts as started", "100"),
    "VOICEBOT_SPEECH_END_MS": ("Trailing silence that ends an utterance", "400"),
    "VOICEBOT_COMPLETE_END_MS": ("Trailing silence that ends an answer which already decides "
                                 "the turn (a confident phrase that nothing longer in the "
                                 "grammar could change); 0: always wait SPEECH_END_MS", "250"),
    "VOICEBOT_DIGITS_SPEECH_END_MS": ("Trailing silence that ends a spoken number (callers "
                                      "pause between groups of digits)", "1500"),
    "VOICEBOT_MAX_UTTERANCE_S": ("Longest utterance before it is cut", "15"),
    "VOICEBOT_LOG_LEVEL": ("debug | info | warning | error", "info"),
    "VOICEBOT_LOG_FORMAT": ("json | text", "json"),
}


@dataclass(frozen=True)
class EndpointSettings:
    aggressiveness: int = 2
    speech_start_ms: int = 100
    speech_end_ms: int = 400
    complete_end_ms: int = 250  # 0: off
    digits_speech_end_ms: int = 1500
    max_utterance_s: float = 15.0


@dataclass(frozen=True)
class Settings:
    public_url: str = "http://127.0.0.1:8080"
    twilio_auth_token: str | None = None
    insecure_no_signature: bool = False
    flow_path: Path = DEFAULT_FLOW
    engine: str = "auto"
    model_dir: Path = DEFAULT_MODEL_DIR
    vosk_model: Path | None = None
    whisper_model: Path | None = None  # -- the whisper engine
    whisper_threads: int = 0  # 0: one per CPU
    db_path: Path = PROJECT_ROOT / "var" / "voicebot.sqlite3"
    hash_key: str | None = None
    api_token: str | None = None
    fallback_queue: str | None = None  # None: the flow's fallback_queue
    queues: tuple[str, ...] = ()
    queue_backup_after_s: float = 120.0
    host: str = "127.0.0.1"
    port: int = 8080
    hold_music_url: str | None = None
    warm_recognizers: int = 8
    tts_cache: Path = PROJECT_ROOT / "var" / "tts-cache"
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    log_level: str = "info"
    log_format: str = "json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        def number(name: str, default: float, lo: float, hi: float, kind=float):
            raw = get(name)
            if raw is None:
                return kind(default)
            try:
                value = kind(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a {kind.__name__}")
                return kind(default)
            if not lo <= value <= hi:
                problems.append(f"{name}={raw} must be between {lo:g} and {hi:g}")
                return kind(default)
            return value

        def flag(name: str) -> bool:
            raw = (get(name) or "0").lower()
            if raw not in ("0", "1", "true", "false", "yes", "no"):
                problems.append(f"{name}={raw!r} must be 1 or 0")
            return raw in ("1", "true", "yes")

        def path(name: str, default: Path) -> Path:
            raw = get(name)
            return Path(raw).expanduser() if raw else default

        public_url = (get("VOICEBOT_PUBLIC_URL") or cls.public_url).rstrip("/")
        if not public_url.startswith(("http://", "https://")):
            problems.append(f"VOICEBOT_PUBLIC_URL={public_url!r} must start with https:// "
                            "(or http:// for local tests)")
        engine = (get("VOICEBOT_ENGINE") or "auto").lower()
        if engine not in ENGINES:
            problems.append(f"VOICEBOT_ENGINE={engine!r} must be one of {', '.join(ENGINES)}")
        log_level = (get("VOICEBOT_LOG_LEVEL") or "info").lower()
        if log_level not in ("debug", "info", "warning", "error"):
            problems.append(f"VOICEBOT_LOG_LEVEL={log_level!r} must be debug, info, "
                            "warning or error")
        log_format = (get("VOICEBOT_LOG_FORMAT") or "json").lower()
        if log_format not in ("json", "text"):
            problems.append(f"VOICEBOT_LOG_FORMAT={log_format!r} must be json or text")
        vosk_model = get("VOICEBOT_VOSK_MODEL")
        queues = tuple(q.strip() for q in (get("VOICEBOT_QUEUES") or "").split(",") if q.strip())

        settings = cls(
            public_url=public_url,
            twilio_auth_token=get("TWILIO_AUTH_TOKEN"),
            insecure_no_signature=flag("VOICEBOT_INSECURE_NO_SIGNATURE"),
            flow_path=path("VOICEBOT_FLOW", DEFAULT_FLOW),
            engine=engine,
            model_dir=path("VOICEBOT_MODEL_DIR", DEFAULT_MODEL_DIR),
            vosk_model=Path(vosk_model).expanduser() if vosk_model else None,
            # -- the whisper engine
            whisper_model=path("VOICEBOT_WHISPER_MODEL", None),
            whisper_threads=number("VOICEBOT_WHISPER_THREADS", 0, 0, 64, int),
            db_path=path("VOICEBOT_DB", cls.db_path),
            hash_key=get("VOICEBOT_HASH_KEY"),
            api_token=get("VOICEBOT_API_TOKEN"),
            fallback_queue=get("VOICEBOT_FALLBACK_QUEUE"),
            queues=queues,
            queue_backup_after_s=number("VOICEBOT_QUEUE_BACKUP_AFTER", 120, 0, 86400),
            host=get("VOICEBOT_HOST") or "127.0.0.1",
            port=number("VOICEBOT_PORT", 8080, 1, 65535, int),
            hold_music_url=get("VOICEBOT_HOLD_MUSIC_URL"),
            warm_recognizers=number("VOICEBOT_WARM_RECOGNIZERS", 8, 0, 500, int),
            tts_cache=path("VOICEBOT_TTS_CACHE", cls.tts_cache),
            endpoint=EndpointSettings(
                aggressiveness=number("VOICEBOT_VAD_AGGRESSIVENESS", 2, 0, 3, int),
                speech_start_ms=number("VOICEBOT_SPEECH_START_MS", 100, 20, 2000, int),
                speech_end_ms=number("VOICEBOT_SPEECH_END_MS", 400, 100, 5000, int),
                complete_end_ms=number("VOICEBOT_COMPLETE_END_MS", 250, 0, 5000, int),
                digits_speech_end_ms=number("VOICEBOT_DIGITS_SPEECH_END_MS", 1500, 100, 5000,
                                            int),
                max_utterance_s=number("VOICEBOT_MAX_UTTERANCE_S", 15, 1, 120),
            ),
            log_level=log_level,
            log_format=log_format,
        )
        if problems:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
        return settings

    def require_serving(self) -> None:
        """Checks that only matter when serving calls (not for validate/chat/replay)."""
        if not self.twilio_auth_token and not self.insecure_no_signature:
            raise SettingsError(
                "TWILIO_AUTH_TOKEN is not set: the service cannot check that requests come "
                "from Twilio. Set it, or set VOICEBOT_INSECURE_NO_SIGNATURE=1 (or pass "
                "--insecure-no-signature) for local development only."
            )
        if not self.flow_path.is_file():
            raise SettingsError(f"VOICEBOT_FLOW: no flow file at {self.flow_path}")
