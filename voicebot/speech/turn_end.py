"""Where a caller's turn ends, and what it listens for.

One set of rules for calls (the session), the service's warm-up and testers (evaluate, the
benchmarks), so that what testers measure is what callers get. Like VoiceXML's complete and
incomplete timeouts: an answer that already decides the turn may end at a shorter silence
than one that could still go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from voicebot.flow.events import Listen
from voicebot.settings import EndpointSettings
from voicebot.speech.engines.common import grammar_phrases, normalize
from voicebot.speech.types import Grammar, Hypothesis


def turn_grammar(listen: Listen) -> Grammar:
    """What the recognizer listens for in a turn: the flow's phrases, and digits when it
    collects a number (at most as many as the node wants)."""
    return Grammar(phrases=tuple(listen.grammar),
                   allow_digits=listen.slot_kind in ("digits", "number"),
                   max_digits=listen.max_digits, groups=listen.groups,
                   escapes=tuple(listen.escapes), answer=listen.slot_kind or "")


def escape_grammar(escape_phrases: tuple[str, ...], listen: Listen | None) -> Grammar:
    """What speech over a prompt the caller may not skip is recognised against: the escape
    phrases, plus what the caller may answer next, so that an early answer matches itself
    instead of being forced onto "agent"."""
    phrases = escape_phrases + (listen.grammar if listen else ())
    groups = (escape_phrases, *(listen.groups if listen else ()))
    return Grammar(phrases=tuple(dict.fromkeys(phrases)), groups=groups,
                   escapes=escape_phrases)


@dataclass(frozen=True)
class EndSilence:
    """The trailing silence that ends a turn (None: the endpointer's usual one), and the
    shorter one at which the turn checks whether it may end already (None: no check)."""

    speech_end_ms: int | None = None
    check_ms: int | None = None


def end_silence(listen: Listen | None, settings: EndpointSettings) -> EndSilence:
    """Callers read a number out in groups with pauses: wait longer for its end, but check
    at the usual silence whether they asked for a person. A phrase turn checks at the short
    silence that ends an answer which already decides it."""
    if listen and listen.slot_kind == "digits" and \
            settings.digits_speech_end_ms > settings.speech_end_ms:
        return EndSilence(settings.digits_speech_end_ms, settings.speech_end_ms)
    return EndSilence(None, complete_check_ms(turn_grammar(listen), settings) if listen else None)


def complete_check_ms(grammar: Grammar, settings: EndpointSettings) -> int | None:
    """The silence at which a turn with this grammar checks whether its answer already
    decides it, or None: phrase turns only (a number can always go on), and only when that
    comes before the usual end."""
    if grammar.phrases and not grammar.allow_digits \
            and 0 < settings.complete_end_ms < settings.speech_end_ms:
        return settings.complete_end_ms
    return None


def decides(grammar: Grammar, hyp: Hypothesis, threshold: float) -> bool:
    """Whether an (early) hypothesis already decides the turn, so it may end at a short
    silence: a phrase of the grammar (said as it is, not a sentence around it), confident
    enough to be taken, that nothing longer the caller could still be saying turns into
    something else ("order" may grow into "order status", the same answer; "yes" into "yes
    another order", a different one). Never for numbers: a digit string can always go on.

    An open-vocabulary engine writes whatever was said before a pause ("can I speak to a
    person," before "please"; "yes," before "can I speak to an agent"): a sentence is not
    a complete answer, so only the grammar's own phrases end a turn early."""
    if not hyp.text or not hyp.in_grammar or hyp.confidence < threshold:
        return False
    said = normalize(hyp.text)
    phrases = grammar_phrases(grammar)
    if not said or grammar.allow_digits or said not in phrases:
        return False
    same = next((g for g in (set(map(normalize, group)) for group in grammar.groups)
                 if said in g), {said})
    # A one-word answer grows as its one-word synonyms do: where "yes" may grow into "yes
    # another order", so may "yeah".
    starts = {s for s in same if " " not in s} if " " not in said else {said}
    return not any(p.startswith(s + " ") and p not in same for p in phrases for s in starts)


def ends_early(listen: Listen, hyp: Hypothesis, *, escape_only: bool, is_escape: bool,
               escape_threshold: float) -> Literal["escape", "answer"] | None:
    """Whether the early decode at the check silence ends the turn there, and why.

    Asking for a person ends any turn at its check, however it was put ("can I speak to a
    person", then a pause): the hand-over follows whatever comes after. Speech over a prompt
    the caller may not skip can do nothing else, and neither can a number (a number is not
    ended because it has all its digits: the decode of the first digits often already shows
    as many, so it would cut callers short). A phrase turn ends when the answer decides it.
    `is_escape`: the flow counts the text as a request for a person.
    """
    if not hyp.text or not hyp.in_grammar:
        return None
    if is_escape and hyp.confidence >= escape_threshold:
        return "escape"
    if escape_only or listen.slot_kind == "digits":
        return None
    return "answer" if decides(turn_grammar(listen), hyp, listen.confidence_threshold) \
        else None
