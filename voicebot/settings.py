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

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FLOW = PROJECT_ROOT / "call_flows" / "support.yaml"
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"
ENGINES = ("auto", "vosk", "pocketsphinx", "whisper", "cascade")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")


class _Problem(ValueError):
    """One setting's problem, worded for the operator (collected, then raised together)."""


# ------------------------------------------------------------------ how a value is read


@dataclass(frozen=True)
class Number:
    kind: type[int] | type[float]
    lo: float
    hi: float

    def __call__(self, name: str, raw: str) -> int | float:
        try:
            value = self.kind(raw)
        except ValueError:
            raise _Problem(f"{name}={raw!r} is not a {self.kind.__name__}") from None
        if not self.lo <= value <= self.hi:
            raise _Problem(f"{name}={raw} must be between {self.lo:g} and {self.hi:g}")
        return value


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]
    wording: str  # how the message lists them

    def __call__(self, name: str, raw: str) -> str:
        value = raw.lower()
        if value not in self.options:
            raise _Problem(f"{name}={value!r} must be {self.wording}")
        return value


def flag(name: str, raw: str) -> bool:
    value = raw.lower()
    if value not in ("0", "1", "true", "false", "yes", "no"):
        raise _Problem(f"{name}={value!r} must be 1 or 0")
    return value in ("1", "true", "yes")


def text(name: str, raw: str) -> str:
    return raw


def path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def postgres_url(name: str, raw: str) -> str:
    if not raw.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise _Problem(f"{name} must be a postgresql://user:password@host:port/database URL "
                       "(leave it unset for the SQLite file VOICEBOT_DB)")
    return raw


def names(name: str, raw: str) -> tuple[str, ...]:
    return tuple(q.strip() for q in raw.split(",") if q.strip())


def base_url(name: str, raw: str) -> str:
    value = raw.rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise _Problem(f"{name}={value!r} must start with https:// (or http:// for local "
                       "tests)")
    return value


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
    api_token: str | None = setting(
        "VOICEBOT_API_TOKEN", "Bearer token for GET /calls/<CallSid>/... (agent desktop)",
        text, None, shown="(none: those routes answer 403)", secret=True)
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
        "VOICEBOT_HOST", "Address `voicebot serve` listens on", text, "127.0.0.1")
    port: int = setting(
        "VOICEBOT_PORT", "Port `voicebot serve` listens on", Number(int, 1, 65535), 8080)
    hold_music_url: str | None = setting(
        "VOICEBOT_HOLD_MUSIC_URL", "Audio URL played to callers waiting in a queue (Twilio "
        "<Play>)", text, None, shown="(none: silence between hold messages)")
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
        if raw is None:
            continue  # the field's default
        try:
            values[f.name] = var.parse(var.env, raw)
        except _Problem as exc:
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


def shown_default(var: Var, default: Any) -> str:
    """The default as the README shows it."""
    if var.shown is not None:
        return var.shown
    if isinstance(default, bool):
        return "1" if default else "0"
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, Path):
        return str(default.relative_to(PROJECT_ROOT)) if default.is_relative_to(
            PROJECT_ROOT) else str(default)
    return str(default)


def markdown_table() -> str:
    """The README's settings table."""
    lines = ["| variable | meaning | default |", "| --- | --- | --- |"]
    for var, default in variables():
        cells = (f"`{var.env}`", var.meaning, shown_default(var, default))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
