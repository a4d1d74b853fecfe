"""Which of several transcripts of one utterance to pass on: the turn's meanings decide.

Why: a beam search ends with several transcripts, and on an unfamiliar voice the best one
is sometimes a near miss that means nothing at this turn ("Transfer, meetler,
preventative.") while one a little less likely means something ("Transfer me to a
representative."). The flow alone decides what a text means (flow.matching, the rules
`chat` uses too); here the same rules only tell which transcripts have a meaning at this
turn, so that an engine passes on the best transcript that does, never a different
meaning than the best one's:

- the best transcript means something (an answer, a request for a person, or two answers
  at once, which the flow asks again): it is taken;
- else a near one (mean token log probability within `within` of the best) that asks for a
  person is taken: a missed request traps the caller;
- else near ones that mean something must all mean the same, and the first is taken;
- else the best (the flow will ask again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voicebot.flow.escape import asks_for_person
from voicebot.flow.matching import intents_named, spoken_digits, yes_no
from voicebot.flow.normalize import compare_form
from voicebot.speech.types import Grammar

ESCAPE = "escape"
AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class Transcript:
    text: str  # normalised
    logprob: float  # mean log probability per token, as the decoder scored it


def meaning(grammar: Grammar, text: str) -> str | None:
    """What the turn makes of `text`: "escape", "digits:NNNN", "yes"/"no", "intent:N" (the
    N-th group of the grammar, or phrase of a grammar without groups), AMBIGUOUS (two
    answers at once), or None (nothing)."""
    if not text:
        return None
    if asks_for_person(text, grammar.escapes):
        return ESCAPE
    if grammar.allow_digits:
        digits = spoken_digits(text)
        wanted = grammar.max_digits is None or (digits is not None
                                                and len(digits) == grammar.max_digits)
        return f"digits:{digits}" if digits and wanted else None
    if grammar.answer == "yes_no":
        return yes_no(text)
    escapes = {compare_form(p) for p in grammar.escapes}
    groups = grammar.groups or tuple((p,) for p in grammar.phrases)  # each phrase its own
    intents = {str(i): group for i, group in enumerate(groups)
               if {compare_form(p) for p in group} != escapes}
    named = intents_named(text, intents)
    if len(named) > 1:
        return AMBIGUOUS
    return f"intent:{named.pop()}" if named else None


def choose(transcripts: Sequence[Transcript], grammar: Grammar, within: float) -> int:
    """The index of the transcript to pass on (0: the best; see the module's rules)."""
    if len(transcripts) < 2 or meaning(grammar, transcripts[0].text) is not None:
        return 0
    floor = transcripts[0].logprob - within
    near = [(i, meaning(grammar, t.text)) for i, t in enumerate(transcripts) if i
            and t.logprob >= floor]
    asks = next((i for i, m in near if m == ESCAPE), None)
    if asks is not None:
        return asks
    found = [(i, m) for i, m in near if m not in (None, AMBIGUOUS)]
    return found[0][0] if found and len({m for _, m in found}) == 1 else 0


def contradicted(transcripts: Sequence[Transcript], grammar: Grammar, within: float) -> bool:
    """Whether a yes or no is in doubt: the best transcript answers a yes/no question and a
    near one (within `within`) gives the other answer. Whisper drops the short unstressed
    word that turns an answer over ("That's not right." as "that's all right", "That's
    incorrect." as "I think correct"), and a caller's wrong number confirmed is worse
    than the question asked again."""
    if grammar.answer != "yes_no" or len(transcripts) < 2:
        return False
    best = meaning(grammar, transcripts[0].text)
    if best not in ("yes", "no"):
        return False
    floor = transcripts[0].logprob - within
    other = "no" if best == "yes" else "yes"
    return any(t.logprob >= floor and meaning(grammar, t.text) == other
               for t in transcripts[1:])


def settle(meanings: Sequence[str | None], agree: int, grammar: Grammar | None = None
           ) -> int | None:
    """Which of several readings of one utterance at other speeds to pass on (its index),
    or None: the first that asks for a person (a missed request traps the caller); else an
    answer that at least `agree` readings give while none gives another (one reading alone
    may have been pulled onto the menu's words by the prompt). Never a yes or no (with a
    yes/no `grammar`): readings at other speeds agreed on "that's right" for "Not quite.",
    which confirmed callers' wrong numbers."""
    asks = next((i for i, m in enumerate(meanings) if m == ESCAPE), None)
    if asks is not None:
        return asks
    if grammar is not None and grammar.answer == "yes_no":
        return None
    answers = [(i, m) for i, m in enumerate(meanings) if m not in (None, AMBIGUOUS)]
    if len(answers) >= agree and len({m for _, m in answers}) == 1:
        return answers[0][0]
    return None
