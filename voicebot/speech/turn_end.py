"""When a turn may end before the usual end-of-speech silence (VoiceXML's complete timeout).

One rule for calls (the session) and for testers (evaluate, the benchmarks), so that what
testers measure is what callers get.
"""

from __future__ import annotations

from voicebot.settings import EndpointSettings
from voicebot.speech.engines.common import grammar_phrases, normalize
from voicebot.speech.types import Grammar, Hypothesis


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
    silence: a phrase of the grammar, confident enough to be taken, that nothing longer
    the caller could still be saying turns into something else ("order" may grow into
    "order status", the same answer; "yes" into "yes another order", a different one).
    Never for numbers: a digit string can always go on."""
    if not hyp.text or not hyp.in_grammar or hyp.confidence < threshold:
        return False
    said = normalize(hyp.text)
    if not said or grammar.allow_digits:
        return False
    same = next((g for g in (set(map(normalize, group)) for group in grammar.groups)
                 if said in g), {said})
    return not any(p.startswith(said + " ") and p not in same
                   for p in grammar_phrases(grammar))
