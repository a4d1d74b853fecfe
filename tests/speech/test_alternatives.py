"""Which of a beam's transcripts an engine passes on, and when the cascade's grammar pass
answers a short utterance: by what the turn makes of each (the flow's own rules)."""

from __future__ import annotations

from voicebot.speech.engines.alternatives import (
    AMBIGUOUS,
    ESCAPE,
    Transcript,
    choose,
    contradicted,
    meaning,
    settle,
)
from voicebot.speech.engines.cascade import agreed, means_nothing, short_answer, unsure_answer
from voicebot.speech.engines.whisper_decode import WhisperResult
from voicebot.speech.engines.whisper_engine import hypothesis
from voicebot.speech.types import Grammar, Hypothesis

ESCAPES = ("agent", "representative", "operator", "person", "speak to someone")
ORDER = ("order status", "my order", "package", "one")
BILLING = ("billing", "bill", "refund", "two")
MENU = Grammar(phrases=ORDER + BILLING + ESCAPES, groups=(ORDER, BILLING, ESCAPES),
               escapes=ESCAPES)
CONFIRM = Grammar(phrases=("yes", "no", *ESCAPES), groups=(("yes",), ("no",), ESCAPES),
                  escapes=ESCAPES, answer="yes_no")
NUMBER = Grammar(phrases=ESCAPES, allow_digits=True, max_digits=4, escapes=ESCAPES,
                 answer="digits")


def beam(*texts: str, step: float = 0.1) -> list[Transcript]:
    return [Transcript(t, -0.2 - i * step) for i, t in enumerate(texts)]


def test_what_each_kind_of_turn_makes_of_a_transcript() -> None:
    assert meaning(MENU, "transfer me to a representative") == ESCAPE
    assert meaning(MENU, "i have a question about my bill") == "intent:1"
    assert meaning(MENU, "my order and my bill") == AMBIGUOUS
    assert meaning(MENU, "the person at the door") is None  # a mention, not an answer
    assert meaning(CONFIRM, "no it is not right") == "no"
    assert meaning(NUMBER, "its four five one two") == "digits:4512"
    assert meaning(NUMBER, "four five one") is None  # not a number of the turn
    assert meaning(MENU, "") is None
    assert meaning(Grammar(phrases=("one", "two")), "two") == "intent:1"  # no groups


def test_the_best_transcript_is_kept_when_it_means_anything() -> None:
    assert choose(beam("billing please", "agent please"), MENU, within=0.3) == 0
    assert choose(beam("my order and my bill", "my order"), MENU, within=0.3) == 0


def test_a_near_transcript_that_asks_for_a_person_is_taken() -> None:
    found = beam("transfer meetler preventative", "transfer me to a representative")
    assert choose(found, MENU, within=0.3) == 1
    assert choose(beam("transfer meetler", "transfer me to a representative", step=0.5),
                  MENU, within=0.3) == 0  # too far below the best


def test_near_transcripts_must_agree_on_an_answer() -> None:
    assert choose(beam("can you explain the car again", "can you explain the charges",
                       "can you explain the bill"), MENU, within=0.3) in (1, 2)
    assert choose(beam("can you explain the car again", "can you check my package",
                       "can you explain the bill"), MENU, within=0.3) == 0


def test_the_grammar_pass_answers_a_short_utterance_whisper_made_nothing_of() -> None:
    said = Hypothesis(text="open the door", confidence=0.95, engine="whisper")
    assert means_nothing(said, MENU)
    assert not means_nothing(Hypothesis(text="operator", confidence=0.95), MENU)
    assert means_nothing(Hypothesis(text="operator", confidence=0.3), MENU)  # too unsure
    sure = Hypothesis(text="operator", confidence=0.8, engine="pocketsphinx")
    assert short_answer(sure, said, MENU).text == "operator"
    assert short_answer(sure, said, MENU).engine == "cascade:pocketsphinx"
    unsure = Hypothesis(text="operator", confidence=0.4, engine="pocketsphinx")
    assert short_answer(unsure, said, MENU).engine == "cascade:whisper"
    rejected = Hypothesis(text="", confidence=0.0, in_grammar=False, engine="pocketsphinx")
    assert short_answer(rejected, said, MENU).text == "open the door"


def test_an_unsure_answer_is_taken_when_the_grammar_pass_gives_the_same_answer() -> None:
    said = Hypothesis(text="i have a question about my bill", confidence=0.4, engine="whisper")
    assert unsure_answer(said, MENU)
    same = Hypothesis(text="bill", confidence=0.8, engine="pocketsphinx")
    taken = agreed(same, said, MENU)
    assert (taken.text, taken.confidence, taken.engine) == (
        "i have a question about my bill", 0.8, "cascade:whisper")  # what the caller said
    other = Hypothesis(text="order status", confidence=0.9, engine="pocketsphinx")
    assert agreed(other, said, MENU).confidence == 0.4  # they disagree: still unsure
    unsure = Hypothesis(text="bill", confidence=0.4, engine="pocketsphinx")
    assert agreed(unsure, said, MENU).confidence == 0.4
    # Not where a grammar's forced answer does harm or adds nothing: yes/no (a wrong number
    # confirmed), numbers, requests for a person (taken at the lower escape threshold), and
    # answers already sure or meaning nothing.
    assert not unsure_answer(Hypothesis(text="yes", confidence=0.4), CONFIRM)
    assert not unsure_answer(Hypothesis(text="four five one two", confidence=0.4), NUMBER)
    assert not unsure_answer(Hypothesis(text="an agent please", confidence=0.4), MENU)
    assert not unsure_answer(Hypothesis(text="my bill", confidence=0.6), MENU)
    assert not unsure_answer(Hypothesis(text="open the door", confidence=0.4), MENU)


def test_readings_at_other_speeds_hand_over_at_once_but_answer_only_when_they_agree() -> None:
    # the first request for a person wins, wherever it is
    assert settle([None, "intent:1", ESCAPE, "intent:1"], agree=2) == 2
    # an answer two readings give, and no other, is taken (the first of them)
    assert settle([None, "intent:0", None, "intent:0"], agree=2) == 1
    assert settle(["intent:0", AMBIGUOUS, "intent:0"], agree=2) == 0
    # one reading alone is not enough: the prompt can pull a reading onto the menu's words
    assert settle([None, "intent:1", None, None], agree=2) is None
    # readings that disagree are no answer: the flow asks again
    assert settle(["intent:0", "intent:0", "intent:1"], agree=2) is None
    assert settle([None, None, None, None], agree=2) is None
    assert settle([], agree=2) is None
    # on a yes/no question only a request for a person: "Not quite." was read as "that's
    # right" at two speeds, which would have confirmed a wrong number
    assert settle([None, "yes", None, "yes"], agree=2, grammar=CONFIRM) is None
    assert settle([None, "yes", ESCAPE, None], agree=2, grammar=CONFIRM) == 2


def test_a_yes_or_no_a_near_transcript_turns_over_is_asked_again() -> None:
    # "That's not right." written as "that's all right", with "that's not right" near it
    assert contradicted(beam("thats all right", "thats not right"), CONFIRM, within=0.3)
    assert contradicted(beam("i think correct", "thats incorrect"), CONFIRM, within=0.3)
    # the other answer too far below the best, or the same answer, or not a yes/no turn
    assert not contradicted(beam("thats all right", "thats not right", step=0.5), CONFIRM,
                            within=0.3)
    assert not contradicted(beam("yes", "yeah", "yes please"), CONFIRM, within=0.3)
    assert not contradicted(beam("my order", "no"), MENU, within=0.3)
    # the engine's hypothesis is then a rejection: the flow asks again
    result = WhisperResult(text="thats all right", raw="That's all right.", avg_logprob=-0.2,
                           no_speech_prob=0.01, tokens=4, audio_s=1.0, prompt_index=0,
                           alternatives=(("thats not right", -0.3),))
    assert hypothesis(result, grammar=CONFIRM, within=0.3).text == ""
    assert hypothesis(result, grammar=CONFIRM, within=0.0).text == "thats all right"
