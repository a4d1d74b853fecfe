"""Every setting of the service, read from the environment in one place and checked at start-up.

One declarative table: each field of Settings (and EndpointSettings) names its variable, its
meaning, how its text is read and checked, and its default. `Settings.from_env()` reads them
all and reports every problem at once (SettingsError), so an operator fixes the
configuration in one go; `voicebot settings` lists them (secrets masked) and writes the
README's settings table from the same fields.

Why dataclass fields rather than pydantic-settings: Settings stays a plain frozen dataclass
that callers build and `dataclasses.replace`, the variables keep their exact names (no
prefix or alias rules) and each problem names the variable as the operator typed it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.errors import SettingsError
from voicebot.settings.parse import (
    Choice,
    Number,
    SettingProblem,
    base_url,
    flag,
    http_url,
    listen_host,
    names,
    path,
    postgres_url,
    text,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_FLOW = PROJECT_ROOT / "call_flows" / "support.yaml"
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"
ENGINES = ("auto", "vosk", "pocketsphinx", "whisper", "cascade")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
OVERFLOW_ACTIONS = ("enqueue", "busy")


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Var:
    """One environment variable: the row of the table a Settings field carries."""

    env: str
    meaning: str
    parse: Callable[[str, str], Any]
    shown: str | None = None  # the default as the README says it, when str() won't do
    secret: bool = False


def setting(env: str, meaning: str, parse: Callable[[str, str], Any], default: Any, *,
            shown: str | None = None, secret: bool = False) -> Any:
    """A dataclass field that is also a row of the settings table."""
    return field(default=default,
                 metadata={"var": Var(env, meaning, parse, shown, secret)})


@dataclass(frozen=True)
class EndpointSettings:
    aggressiveness: int = setting(
        "VOICEBOT_VAD_AGGRESSIVENESS", "webrtcvad aggressiveness 0..3", Number(int, 0, 3), 2)
    speech_start_ms: int = setting(
        "VOICEBOT_SPEECH_START_MS", "Voiced time before speech counts as started",
        Number(int, 20, 2000), 100)
    speech_end_ms: int = setting(
        "VOICEBOT_SPEECH_END_MS", "Trailing silence that ends an utterance",
        Number(int, 100, 5000), 400)
    complete_end_ms: int = setting(  # 0: off
        "VOICEBOT_COMPLETE_END_MS", "Trailing silence that ends an answer which already "
        "decides the turn (a confident phrase that nothing longer in the grammar could "
        "change); 0: always wait SPEECH_END_MS", Number(int, 0, 5000), 250)
    digits_speech_end_ms: int = setting(
        "VOICEBOT_DIGITS_SPEECH_END_MS", "Trailing silence that ends a spoken number "
        "(callers pause between groups of digits)", Number(int, 100, 5000), 1500)
    max_utterance_s: float = setting(
        "VOICEBOT_MAX_UTTERANCE_S", "Longest utterance before it is cut",
        Number(float, 1, 120), 15.0)


@dataclass(frozen=True)
class Settings:
    public_url: str = setting(
        "VOICEBOT_PUBLIC_URL", "Public base URL as Twilio reaches the service (https://...); "
        "used for stream URLs and signature checks", base_url, "http://127.0.0.1:8080")
    twilio_auth_token: str | None = setting(
        "TWILIO_AUTH_TOKEN", "Twilio auth token; checks X-Twilio-Signature on every request",
        text, None, shown="(none: the service refuses to start)", secret=True)
    insecure_no_signature: bool = setting(
        "VOICEBOT_INSECURE_NO_SIGNATURE", "1 accepts unsigned requests: local development "
        "only", flag, False)
    flow_path: Path = setting(
        "VOICEBOT_FLOW", "Call-flow YAML file", path, DEFAULT_FLOW)
    engine: str = setting(
        "VOICEBOT_ENGINE", "Recognition engine: auto | vosk | pocketsphinx | whisper | cascade",
        Choice(ENGINES, "one of " + ", ".join(ENGINES)), "auto")
    model_dir: Path = setting(
        "VOICEBOT_MODEL_DIR", "Where Vosk models live", path, DEFAULT_MODEL_DIR,
        shown="models/")
    vosk_model: Path | None = setting(
        "VOICEBOT_VOSK_MODEL", "A Vosk model directory (overrides the search in the model "
        "dir)", path, None, shown="")
    whisper_model: Path | None = setting(
        "VOICEBOT_WHISPER_MODEL", "A CTranslate2 Whisper model directory (overrides "
        "models/whisper-tiny.en and the packaged weights)", path, None, shown="")
    whisper_threads: int = setting(
        "VOICEBOT_WHISPER_THREADS", "Whisper decodes run at once, one CPU each; 0: one per CPU",
        Number(int, 0, 64), 0)
    whisper_other_speeds: bool = setting(
        "VOICEBOT_WHISPER_OTHER_SPEEDS", "1: a turn Whisper makes nothing of is heard again "
        "at four other speeds (more requests for a person and answers understood; about 1 s "
        "more CPU on those turns); 0: asked again at once", flag, True)
    db_path: Path = setting(
        "VOICEBOT_DB", "SQLite file for call records (when VOICEBOT_DATABASE_URL is unset)",
        path,
        PROJECT_ROOT / "var" / "voicebot.sqlite3")
    database_url: str | None = setting(
        "VOICEBOT_DATABASE_URL", "PostgreSQL for the call records, shared by every host "
        "(postgresql://user:password@host:5432/db); unset: the SQLite file VOICEBOT_DB",
        postgres_url, None, shown="(none: SQLite)", secret=True)
    db_wait_s: float = setting(
        "VOICEBOT_DB_WAIT_S", "How long start-up (and `voicebot db`) waits for an "
        "unreachable database, retrying, before it gives up", Number(float, 0, 3600), 30.0)
    db_timeout_s: float = setting(
        "VOICEBOT_DB_TIMEOUT_S", "Longest wait for one database connection or statement "
        "(PostgreSQL); past it the request fails safe and the next one reconnects",
        Number(float, 0.5, 300), 5.0)
    db_pool_size: int = setting(
        "VOICEBOT_DB_POOL_SIZE", "PostgreSQL connections each service process keeps open "
        "(as many more may open at a peak)", Number(int, 1, 200), 10)
    hash_key: str | None = setting(
        "VOICEBOT_HASH_KEY", "Key for hashing caller numbers (HMAC-SHA256)", text, None,
        shown="generated once into var/hash.key", secret=True)
    data_key: str | None = setting(
        "VOICEBOT_DATA_KEY", "Key(s) sealing what callers said in the records (AES-256-GCM; "
        "`voicebot records new-key` makes one): comma-separated, newest first; the first "
        "seals, all open. The same on every host", text, None,
        shown="(none: the service refuses to start)", secret=True)
    insecure_dev_data: bool = setting(
        "VOICEBOT_INSECURE_DEV_DATA", "1: without VOICEBOT_DATA_KEY, keep a generated key in "
        "data.key beside VOICEBOT_DB (a local development run only: the key lies beside "
        "the data)", flag, False)
    retain_calls_days: int = setting(
        "VOICEBOT_RETAIN_CALLS_DAYS", "Days a call's metadata (times, outcome, reason, "
        "queue, hashed number) is kept; then the call is removed; 0: kept", Number(int, 0,
                                                                                  36500), 365)
    retain_turns_days: int = setting(
        "VOICEBOT_RETAIN_TURNS_DAYS", "Days what was said is kept (turn texts and prompts); "
        "0: as long as the call", Number(int, 0, 36500), 30)
    retain_summaries_days: int = setting(
        "VOICEBOT_RETAIN_SUMMARIES_DAYS", "Days the agent's summary and the saved context "
        "(slot values) are kept; 0: as long as the call", Number(int, 0, 36500), 90)
    retain_audit_days: int = setting(
        "VOICEBOT_RETAIN_AUDIT_DAYS", "Days audit-log entries are kept; 0: for ever",
        Number(int, 0, 36500), 730)
    purge_every_s: float = setting(
        "VOICEBOT_PURGE_EVERY_S", "How often the service purges expired records (one host "
        "at a time, under a lock in the database); 0: only `voicebot records purge`",
        Number(float, 0, 86400 * 7), 3600.0)
    api_token: str | None = setting(
        "VOICEBOT_API_TOKEN", "Bootstrap API token with the admin role, for a first set-up "
        "and existing deployments; make tokens per person and role with `voicebot tokens "
        "add`, then unset it", text, None, shown="(none: only `voicebot tokens` tokens)",
        secret=True)
    fallback_queue: str | None = setting(
        "VOICEBOT_FALLBACK_QUEUE", "Queue a call goes to when anything breaks", text, None,
        shown="(the flow's fallback_queue)")
    queues: tuple[str, ...] = setting(
        "VOICEBOT_QUEUES", "Comma-separated queue names the service may enqueue into", names,
        (), shown="(every queue the flow names)")
    queue_backup_after_s: float = setting(
        "VOICEBOT_QUEUE_BACKUP_AFTER", "Seconds in a queue before the backup channels are "
        "offered", Number(float, 0, 86400), 120.0)
    host: str = setting(
        "VOICEBOT_HOST", "Address `voicebot serve` listens on", listen_host, "127.0.0.1")
    port: int = setting(
        "VOICEBOT_PORT", "Port `voicebot serve` listens on", Number(int, 1, 65535), 8080)
    # -- admission, stream limits and draining (service/calls, media_socket, serve)
    max_calls: int = setting(
        "VOICEBOT_MAX_CALLS", "Calls this instance serves at once, each from /voice (or "
        "its stream's start here) until its stream ends (scripts/bench_calls.py measures "
        "what a machine serves within the turn-gap targets); a call beyond it is answered "
        "at once as VOICEBOT_OVERFLOW says",
        Number(int, 1, 1000), 20)
    overflow: str = setting(
        "VOICEBOT_OVERFLOW", "What a call beyond VOICEBOT_MAX_CALLS gets: enqueue (a short "
        "apology, then the fallback queue) or busy (a short message, then hang up)",
        Choice(OVERFLOW_ACTIONS, "enqueue or busy"), "enqueue")
    max_streams: int | None = setting(
        "VOICEBOT_MAX_STREAMS", "Media WebSockets open at once, at most; more are refused "
        "(HTTP 503) before the upgrade", Number(int, 1, 5000), None,
        shown="(VOICEBOT_MAX_CALLS + 10)")
    stream_start_timeout_s: float = setting(
        "VOICEBOT_STREAM_START_TIMEOUT_S", "A media WebSocket that sends no `start` this long "
        "is closed", Number(float, 0.5, 120), 5.0)
    stream_idle_timeout_s: float = setting(
        "VOICEBOT_STREAM_IDLE_TIMEOUT_S", "A media stream that sends nothing this long is "
        "closed (Twilio sends audio every 20 ms); its caller goes to a person",
        Number(float, 1, 600), 10.0)
    stream_max_message_bytes: int = setting(
        "VOICEBOT_STREAM_MAX_MESSAGE_BYTES", "Largest stream message; a longer one is dropped "
        "as it arrives (never buffered) and skipped", Number(int, 4096, 16 * 2**20), 65536)
    stream_token_ttl_s: float = setting(
        "VOICEBOT_STREAM_TOKEN_TTL_S", "How long after /voice a call's stream may start (the "
        "lifetime of its stream token); a call whose stream has not started by then is given "
        "up", Number(float, 5, 3600), 30.0)
    stream_secret: str | None = setting(
        "VOICEBOT_STREAM_SECRET", "Key of the per-call stream tokens (HMAC-SHA256); instances "
        "that take each other's streams must share it", text, None,
        shown="(derived from TWILIO_AUTH_TOKEN; random per process without it)", secret=True)
    drain_grace_s: float = setting(
        "VOICEBOT_DRAIN_GRACE_S", "On SIGTERM, how long calls in progress may go on to finish "
        "by themselves before each is handed to a person with a short message (0: at once); "
        "new calls go to a person at once", Number(float, 0, 3600), 10.0)
    # --
    hold_music_url: str | None = setting(
        "VOICEBOT_HOLD_MUSIC_URL", "Audio URL played to callers waiting in a queue (Twilio "
        "<Play>)", http_url, None, shown="(none: silence between hold messages)")
    warm_recognizers: int = setting(
        "VOICEBOT_WARM_RECOGNIZERS", "Recognizers run on silence at start-up, so the first "
        "callers don't pay for a decoder's first decode", Number(int, 0, 500), 8)
    decode_deadline_s: float = setting(
        "VOICEBOT_DECODE_DEADLINE_S", "Longest wait for a decoder worker's answer (a free "
        "worker and the decode); past it the turn fails to a person and a hung worker is "
        "replaced", Number(float, 0.5, 600), 3.0)
    tts_cache: Path = setting(
        "VOICEBOT_TTS_CACHE", "Directory of rendered prompts", path,
        PROJECT_ROOT / "var" / "tts-cache")
    tts_deadline_s: float = setting(
        "VOICEBOT_TTS_DEADLINE_S", "Longest wait for one prompt to render; past it the "
        "caller is handed over (the hand-over prompts are kept in memory) and the speech "
        "worker is replaced", Number(float, 0.5, 600), 3.0)
    db_deadline_s: float = setting(
        "VOICEBOT_DB_DEADLINE_S", "Longest wait for the call records in a request (the "
        "<Connect> action, the agent briefing, the records API, /readyz); writes never make "
        "anyone wait", Number(float, 0.1, 60), 2.0)
    records_spool: Path | None = setting(
        "VOICEBOT_RECORDS_SPOOL", "Directory keeping the call-record writes the database "
        "refused (JSON lines, a file per process); written to the database when it is back, "
        "and at start-up", path, None, shown="spool/ beside VOICEBOT_DB")
    records_pending_max: int = setting(
        "VOICEBOT_RECORDS_PENDING_MAX", "Call-record writes kept in memory while the "
        "database refuses them (beyond it, only the spool keeps them)",
        Number(int, 10, 1_000_000), 2000)
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    log_level: str = setting(
        "VOICEBOT_LOG_LEVEL", "debug | info | warning | error",
        Choice(LOG_LEVELS, "debug, info, warning or error"), "info")
    log_format: str = setting(
        "VOICEBOT_LOG_FORMAT", "json | text", Choice(LOG_FORMATS, "json or text"), "json")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives; SettingsError listing every problem."""
        env = os.environ if environ is None else environ
        problems: dict[str, str] = {}
        endpoint = _read(EndpointSettings, env, problems)
        settings = _read(cls, env, problems, endpoint=endpoint)
        if problems:
            in_order = [problems[var.env] for var, _ in variables() if var.env in problems]
            raise SettingsError("invalid settings:\n  " + "\n  ".join(in_order))
        return settings

    @property
    def stream_limit(self) -> int:
        """VOICEBOT_MAX_STREAMS, or room for every admitted call and a few strays."""
        return self.max_streams or self.max_calls + 10

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


def raw_value(env: Mapping[str, str], name: str) -> str | None:
    """A variable's text, stripped; None when unset or blank (blank means the default)."""
    value = env.get(name)
    return value.strip() if value is not None and value.strip() else None


def _read(cls: type, env: Mapping[str, str], problems: dict[str, str], **given: Any) -> Any:
    """An instance of `cls` from the variables its fields name; a bad value keeps its
    default and its problem goes into `problems` (variable -> message)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        var: Var | None = f.metadata.get("var")
        raw = raw_value(env, var.env) if var else None
        if raw is None and var and var.secret and env.get(var.env) is not None:
            # A key that expanded to nothing is a mistake, not a wish for the default (a new
            # hash key would make every stored caller hash unmatchable).
            problems[var.env] = (f"{var.env} is set but blank: give it a value, or unset it "
                                 "to use the default")
            continue
        if raw is None:
            continue  # the field's default
        try:
            values[f.name] = var.parse(var.env, raw)
        except SettingProblem as exc:
            problems[var.env] = str(exc)
    return cls(**values, **given)


# ------------------------------------------------------------------ the table, for people


def variables() -> Iterator[tuple[Var, Any]]:
    """Every (variable, default), in the order of the README's table."""
    for f in dataclasses.fields(Settings):
        if f.name == "endpoint":
            for g in dataclasses.fields(EndpointSettings):
                yield g.metadata["var"], g.default
        else:
            yield f.metadata["var"], f.default
