"""Which voices and speaking rates the bot's text-to-speech (espeak-ng) has, asked of
espeak-ng through pyttsx3's own binding, without starting the speech worker.

So `voicebot validate` tells a designer that `voice: xx-nonexistent` or `rate: 600` would
not speak, instead of `serve` refusing the flow at start-up; and the speech worker resolves
a flow's voice by these same rules (espeak-ng itself silently ignores a name it does not
know, which would make a typo go unnoticed).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from voicebot.flow.problems import Problem

if TYPE_CHECKING:  # the speech worker imports this module: keep it light
    from voicebot.flow.model import Flow

# espeak-ng's speaking rates (words a minute): slower is spoken at 80 all the same (measured),
# faster than 450 is past what espeak-ng documents. The flow schema's bounds are these.
RATE_MIN, RATE_MAX = 80, 450
DEFAULT_RATE = 175  # espeak-ng's own default, used when a flow sets none
ESPEAK_HINT = "install it: apt-get install espeak-ng"
VALUE = "$value"  # same marker as voicebot.flow.loader.VALUE


class VoicesUnavailable(Exception):
    """espeak-ng (or pyttsx3's binding to it) cannot be loaded here."""


@dataclass(frozen=True)
class Voice:
    id: str  # espeak-ng's identifier, e.g. "gmw/en-us"
    name: str  # e.g. "English (America)"
    languages: tuple[str, ...]  # e.g. ("en-us",)


@dataclass(frozen=True)
class Installed:
    voices: tuple[Voice, ...]
    variants: frozenset[str]  # lower case, e.g. "f2", "m3", "klatt"


@lru_cache(maxsize=1)
def installed(initialize: bool = True) -> Installed:
    """The voices and variants of the espeak-ng that pyttsx3 loads. `initialize=False` in a
    process where pyttsx3 has already started espeak-ng (the speech worker)."""
    try:
        from pyttsx3.drivers import _espeak

        if initialize:
            _espeak.Initialize(_espeak.AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        voices = tuple(_voice(v) for v in _espeak.ListVoices(None))
        spec = _espeak.VOICE()
        spec.languages = b"variant"
        variants = frozenset(v.identifier.decode("utf-8", "replace").split("/")[-1].lower()
                             for v in _espeak.ListVoices(spec))
    except Exception as exc:  # noqa: BLE001 - a missing library shows in many ways
        raise VoicesUnavailable(f"espeak-ng cannot be loaded ({type(exc).__name__}: {exc}); "
                                f"{ESPEAK_HINT}") from None
    return Installed(voices, variants)


def _voice(v) -> Voice:
    languages = (v.languages[1:].decode("utf-8", "replace"),) if v.languages else ()
    return Voice(v.identifier.decode("utf-8", "replace").lower(),
                 v.name.decode("utf-8", "replace"), languages)


def resolve_voice(wanted: str, have: Installed) -> str:
    """The espeak-ng voice id of a flow's voice ("en-us", "en-gb+f2", "English (America)",
    "gmw/en-us"), or ValueError naming English voices that exist."""
    base, plus, variant = wanted.strip().partition("+")
    base_l = base.lower()
    for v in have.voices:
        names = {v.id, v.id.split("/")[-1], v.name.lower(), *(x.lower() for x in v.languages)}
        if base_l in names:
            if plus and have.variants and variant.lower() not in have.variants:
                raise ValueError(f"unknown espeak-ng voice variant {variant!r} "
                                 "(e.g. m1..m7, f1..f5)")
            return v.id + (f"+{variant}" if plus else "")
    english = sorted({(v.languages or (v.id,))[0] for v in have.voices
                      if (v.languages or ("",))[0].startswith("en")})
    raise ValueError(f"unknown voice {wanted!r}; English voices here: {', '.join(english)}")


def rate_problem(rate: int | None) -> str | None:
    if rate is not None and not RATE_MIN <= rate <= RATE_MAX:
        return (f"speech rate {rate} is out of range ({RATE_MIN}..{RATE_MAX} words a minute, "
                "what espeak-ng speaks)")
    return None


def voice_problems(flow: Flow, file: str) -> list[Problem]:
    """The flow's voice and rate checked against the text-to-speech that will speak them."""
    problems: list[Problem] = []

    def add(severity: str, message: str, key: str) -> None:
        line, col = flow.mark(key, VALUE)
        problems.append(Problem(file, line, col, severity, message))  # type: ignore[arg-type]

    if (message := rate_problem(flow.rate)) is not None:
        add("error", message, "rate")
    if flow.voice:
        try:
            resolve_voice(flow.voice, installed())
        except VoicesUnavailable as exc:
            add("warning", f"the voice {flow.voice!r} cannot be checked here: {exc}", "voice")
        except ValueError as exc:
            add("error", f"{exc} (`espeak-ng --voices=en` lists them)", "voice")
    return problems
