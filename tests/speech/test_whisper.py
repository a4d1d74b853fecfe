"""The whisper engine and the cascade on the real Whisper tiny.en weights, with real recordings
(FSDD) and espeak-ng sentences (no recording has them), through the phone path. Floors, not
exact results: scripts/bench_digits.py and scripts/tune_whisper.py measure in full."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from voicebot.flow.escape import names_whom
from voicebot.flow.loader import load_flow
from voicebot.flow.turns import listen_for
from voicebot.service.runtime import first_turn_grammar
from voicebot.speech.audio import load_phone_audio
from voicebot.speech.engines import EngineError, load_engine
from voicebot.speech.engines.alternatives import ESCAPE, meaning
from voicebot.speech.engines.cascade import (
    CascadeEngine,
    choose,
    grammar_request,
    loose,
    number_unheard,
)
from voicebot.speech.engines.common import DIGIT_ALIASES, DIGIT_WORDS
from voicebot.speech.engines.whisper_decode import WhisperOptions, loops, shared_core
from voicebot.speech.engines.whisper_engine import (
    WhisperEngine,
    prompts_for,
    request_prompt,
)
from voicebot.speech.evaluate import line_audio, recognize_turn
from voicebot.speech.turn_end import turn_grammar
from voicebot.speech.types import Grammar, Hypothesis
from voicebot.speech.whisper_models import packaged_dir

DIGITS = Grammar(phrases=DIGIT_WORDS + DIGIT_ALIASES)
ESCAPES = ("agent", "representative", "operator", "human", "person", "speak to someone")
MENU = Grammar(phrases=("order status", "my order", "billing", "refund", *ESCAPES),
               groups=(("order status", "my order"), ("billing", "refund"), ESCAPES))
NUMBER = Grammar(phrases=ESCAPES, allow_digits=True, max_digits=4)
ROOT = Path(__file__).resolve().parents[2]
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")  # 4 accents


def heard(engine, grammar: Grammar, pcm: bytes, seed: int = 0) -> Hypothesis:
    hyp, _ = recognize_turn(engine, grammar, line_audio(pcm, seed=seed))
    return hyp


def raw(engine, grammar: Grammar, pcm: bytes) -> Hypothesis:
    """Audio straight into a recognizer, as if the endpointer had called it speech."""
    rec = engine.recognizer(grammar)
    rec.accept(pcm)
    return rec.finish()


@pytest.mark.slow
def test_fsdd_digits_of_every_accent(whisper_engine, shared_data: Path) -> None:
    results = {}
    for speaker in SPEAKERS:
        for digit, index in ((3, 12), (7, 20)):
            pcm = load_phone_audio(shared_data / "fsdd" / f"{digit}_{speaker}_{index}.wav")
            hyp = heard(whisper_engine, DIGITS, pcm, seed=index)
            results[(speaker, digit)] = hyp.text == DIGIT_WORDS[digit]
            if results[(speaker, digit)]:
                assert hyp.in_grammar and hyp.confidence >= 0.5 and hyp.engine == "whisper"
    assert sum(results.values()) >= 11, results
    for speaker in SPEAKERS:
        assert results[(speaker, 3)] or results[(speaker, 7)], speaker


@pytest.mark.slow
def test_escape_inside_a_sentence_is_heard(whisper_engine, speech) -> None:
    # espeak-ng: no recording has this sentence.
    for voice in ("en-us", "en-gb"):
        pcm = load_phone_audio(speech("I want to talk to an agent", voice=voice, speed=150))
        hyp = heard(whisper_engine, MENU, pcm)
        assert "agent" in hyp.text.split(), hyp
        assert hyp.confidence >= 0.25 and hyp.in_grammar


def test_nothing_is_invented_on_silence_or_line_noise(whisper_engine) -> None:
    rng = np.random.default_rng(7)
    noises = {
        "digital silence": np.zeros(16000),
        "line hiss": rng.normal(0, 30, 16000),
        "a burst of noise": np.concatenate([rng.normal(0, 8, 4000), rng.normal(0, 2000, 4000),
                                            rng.normal(0, 8, 8000)]),
        "mains hum": 2000 * np.sin(2 * np.pi * 50 * np.arange(16000) / 8000),
    }
    for name, x in noises.items():
        pcm = np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
        for grammar in (MENU, NUMBER):
            hyp = raw(whisper_engine, grammar, pcm)
            assert hyp.text == "" and not hyp.in_grammar and hyp.confidence < 0.25, (name, hyp)


def test_a_word_written_again_and_again_is_a_loop_except_in_a_number() -> None:
    options = WhisperOptions()
    assert loops("Sure, I'll try nope nope nope nope.", options)
    assert loops("my order my order my order", options)
    # digits repeat in real numbers, said in any turn: a card number is not a loop (cut, it
    # would also escape the redactor's card rule)
    assert not loops("my card number is four one one one one one one one", options)
    assert not loops("call me on 555 555 5555", options)
    assert not loops("Yes, I'd like to check another order.", options)
    assert not loops("No, no, that's not it.", options)  # twice is how people talk
    assert not loops("five five five zero", options, digits=True)  # order number 5550
    assert not loops("nope nope nope", WhisperOptions(repeat_loops=False))


@pytest.mark.slow
def test_a_sentence_read_into_a_loop_of_the_prompt_is_read_again(whisper_engine, speech
                                                                 ) -> None:
    # espeak-ng: no recording has this sentence. Whisper, given the node's phrases as its
    # prompt, wrote "sure I'll try nope nope nope" for it in these voices. What it writes
    # depends on the CPU's int8 kernels (on an AVX-512 EPYC, "sure ill try nope nope" in
    # en-029): whatever it writes, no loop is passed on and the prompt's "nope" is never
    # taken as the caller's answer (a yes and a no together are asked again).
    from voicebot.flow.matching import match_intent

    node = load_flow(ROOT / "call_flows" / "support.yaml").nodes["order_not_found"]
    grammar = turn_grammar(listen_for(node))
    intents = {i.name: i.phrases for i in node.intents}
    answers = []
    for voice in ("en-gb", "en-029"):
        pcm = load_phone_audio(speech("Sure, I'll try another number.", voice=voice, speed=140))
        hyp = heard(whisper_engine, grammar, pcm)
        assert not loops(hyp.text, whisper_engine.options), (voice, hyp)
        answers.append(match_intent(hyp.text, intents))
        assert answers[-1] != "give_up", (voice, hyp)
    assert "retry" in answers


def test_a_sentences_opening_word_alone_is_not_read_again(whisper_engine, speech,
                                                          monkeypatch) -> None:
    # espeak-ng: an early decode at a pause hears "Um," or "Actually," before the caller goes
    # on; reading that again (a request prompt, four speeds) found nothing in 100 such
    # fragments and cost six decodes each, and Whisper fills a fragment with its prompt.
    decodes: list[object] = []
    real = whisper_engine.decode

    def counted(*args, **kwargs):
        decodes.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(whisper_engine, "decode", counted)
    for text in ("Um,", "Actually,"):
        decodes.clear()
        result = whisper_engine.decode_turn(load_phone_audio(speech(text, voice="en-us",
                                                                    speed=150)), MENU)
        assert meaning(MENU, result.text) is None and len(decodes) == 1, (text, result.text)
    decodes.clear()
    unclear = load_phone_audio(speech("Do you sell shoes?", voice="en-us", speed=150))
    whisper_engine.decode_turn(unclear, MENU)
    assert len(decodes) > 1  # a sentence that means nothing is read again


def test_a_reading_again_reuses_the_encoding_with_the_same_result(whisper_engine, speech
                                                                  ) -> None:
    core = shared_core(whisper_engine.model_dir, whisper_engine.parallel)
    pcm = load_phone_audio(speech("I have a question about my bill", voice="en-us", speed=150))
    prompts = prompts_for(MENU)
    once = core.encoded(pcm, whisper_engine.options)
    assert core.decode(once, prompts, whisper_engine.options) == core.decode(
        pcm, prompts, whisper_engine.options)


def test_prompts_are_the_turns_grammar() -> None:
    menu = prompts_for(MENU)
    assert menu == ("order status, my order, billing, refund, agent, representative, operator, "
                    "human, person, speak to someone.",)
    number = prompts_for(NUMBER)
    assert number[0].endswith(". zero one two three four five six seven eight nine")
    assert number[1].endswith("speak to someone, zero, one, two, three, four, five, six, "
                              "seven, eight, nine.")  # tried when the first one loops
    assert prompts_for(DIGITS) == (" ".join(DIGIT_WORDS), ", ".join(DIGIT_WORDS) + ".")
    assert prompts_for(Grammar()) == (None,)
    confirm = Grammar(phrases=("yes", "yeah", "no", "nope", *ESCAPES), escapes=ESCAPES,
                      answer="yes_no")
    assert prompts_for(confirm) == (
        "Yes. No. agent, representative, operator, human, person, speak to someone.",
        "yes, yeah, no, nope, agent, representative, operator, human, person, "
        "speak to someone.")


@pytest.mark.slow
def test_a_lone_yes_is_heard_once_and_ends_the_turn_at_the_short_silence(whisper_engine, speech
                                                                        ) -> None:
    # espeak-ng: with every way of saying yes and no as the prompt, Whisper wrote these as
    # "yeah yeah", "yep yep", "yes yes" at confidence 0.35-0.61.
    from voicebot.speech.turn_end import decides

    node = load_flow(ROOT / "call_flows" / "support.yaml").nodes["ask_order_number"]
    listen = listen_for(node, confirming=True)
    grammar = turn_grammar(listen)
    for voice, speed in (("en-us", 180), ("en-gb", 140), ("en-us", 140)):
        hyp = heard(whisper_engine, grammar, load_phone_audio(speech("Yes.", voice=voice,
                                                                     speed=speed)))
        assert hyp.text == "yes", (voice, speed, hyp)
        assert decides(grammar, hyp, listen.confidence_threshold), (voice, speed, hyp)


def test_the_second_look_asks_for_a_person_in_the_flows_words() -> None:
    assert request_prompt(("agent", "operator", "speak to someone")) == (
        "I'd like to speak to an agent. Can I talk to an operator? Speak to someone, please.")
    assert request_prompt(()) is None  # a node without escape phrases: no second look


# ----------------------------------------------------------------- the model files


def test_a_damaged_model_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    copy = tmp_path / "whisper-tiny.en"
    shutil.copytree(packaged_dir(), copy)
    data = bytearray((copy / "model.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.bin").write_bytes(bytes(data))
    with pytest.raises(EngineError) as err:
        load_engine("whisper", model_dir=tmp_path, whisper_model="", whisper_threads=1)
    message = str(err.value)
    assert str(copy / "model.bin") in message and "damaged" in message
    assert "voicebot models download whisper-tiny.en" in message
    with pytest.raises(EngineError, match="damaged"):  # named by the setting: checked too
        load_engine("whisper", model_dir=tmp_path / "none", whisper_model=copy,
                    whisper_threads=1)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(EngineError, match=r"missing tokenizer\.json"):
        load_engine("whisper", model_dir=tmp_path / "none", whisper_model=copy,
                    whisper_threads=1)


def test_the_model_setting_pointing_nowhere_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="VOICEBOT_WHISPER_MODEL=.*not a CTranslate2 "
                                          "Whisper model"):
        load_engine("whisper", model_dir=tmp_path, whisper_model=tmp_path / "nowhere",
                    whisper_threads=1)


def test_the_other_speeds_can_be_turned_off(tmp_path: Path) -> None:
    on = load_engine("whisper", model_dir=tmp_path, whisper_model="", whisper_threads=1,
                     whisper_other_speeds=True)
    off = load_engine("whisper", model_dir=tmp_path, whisper_model="", whisper_threads=1,
                      whisper_other_speeds=False)
    assert on.options.other_speeds == WhisperOptions().other_speeds != ()
    assert off.options.other_speeds == ()


def test_engine_choice_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voicebot.speech.engines")
    engine = load_engine("whisper", model_dir=tmp_path, whisper_model="", whisper_threads=1)
    assert engine.name == "whisper"
    record = next(r for r in caplog.records if r.getMessage() == "speech.engine.loaded")
    assert record.engine == "whisper" and "packaged" in record.why


# ----------------------------------------------------------------- the cascade


@pytest.mark.slow
def test_cascade_hears_a_sentence_through_whisper(cascade_engine, speech) -> None:
    # espeak-ng: no recording has this sentence.
    pcm = load_phone_audio(speech("I want to talk to an agent", voice="en-us", speed=150))
    hyp = heard(cascade_engine, NUMBER, pcm)
    assert "agent" in hyp.text.split() and hyp.engine.startswith("cascade:whisper")


@pytest.mark.slow
def test_cascade_takes_the_grammar_pass_for_a_number_whisper_cut_short(
        ps_engine, shared_data: Path) -> None:
    """A real 4-digit number (one FSDD speaker's clips, 0.6 s apart) of which Whisper, read
    greedily only, hears three digits (its beam reading, on by default, hears this one); the
    grammar pass hears the four, and the number is taken from it."""
    gap = b"\x00" * int(0.6 * 16000)
    pcm = gap.join(load_phone_audio(shared_data / "fsdd" / f"{d}_jackson_8.wav")
                   for d in "5550")
    greedy = WhisperEngine(packaged_dir(), options=WhisperOptions(digits_beam_again=1))
    alone = heard(greedy, NUMBER, pcm, seed=8)
    assert len(alone.text.split()) != 4
    hyp = heard(CascadeEngine(ps_engine, greedy), NUMBER, pcm, seed=8)
    assert hyp.text == "five five five zero" and hyp.engine == "cascade:pocketsphinx"


@pytest.mark.slow
def test_cascade_hands_over_for_a_word_whisper_took_loosely_as_another_answer(
        cascade_engine, whisper_engine, speech) -> None:
    """"Operator." said alone (espeak-ng, one voice): Whisper writes "order reader", which
    the menu takes as the order branch; the grammar pass hears "operator" and the caller
    is handed over instead of sent down the wrong branch."""
    grammar = first_turn_grammar(load_flow(ROOT / "call_flows" / "support.yaml"))
    pcm = load_phone_audio(speech("Operator.", voice="en-us-nyc", speed=180))
    alone = heard(whisper_engine, grammar, pcm)
    assert alone.text != "operator" and meaning(grammar, alone.text).startswith("intent:")
    hyp = heard(cascade_engine, grammar, pcm)
    assert meaning(grammar, hyp.text) == ESCAPE and hyp.engine == "cascade:pocketsphinx"


@pytest.mark.slow
def test_cascade_hands_over_a_request_whisper_wrote_no_digit_of_at_a_number_turn(
        cascade_engine, whisper_engine, speech) -> None:
    """"Representative, please." while the order number is expected (espeak-ng, one voice):
    Whisper, prompted with the digits first, writes neither a digit nor a request; the
    grammar pass (the digits and the escape phrases) hears "representative"."""
    grammar = _order_number_turn()
    pcm = load_phone_audio(speech("Representative, please.", voice="en-gb-x-gbclan", speed=140))
    alone = heard(whisper_engine, grammar, pcm)
    assert meaning(grammar, alone.text) != ESCAPE
    hyp = heard(cascade_engine, grammar, pcm)
    assert meaning(grammar, hyp.text) == ESCAPE and hyp.engine == "cascade:pocketsphinx"


@pytest.mark.slow
def test_cascade_takes_no_request_from_the_grammar_pass_over_a_number_whisper_heard(
        cascade_engine, speech) -> None:
    """The grammar pass forces sentences onto its phrases ("human" at 1.0 for "Yes, it's nine
    zero two one." in this voice); Whisper heard digits there, sure of them, so it is not
    asked and the caller is not handed over."""
    grammar = _order_number_turn()
    pcm = load_phone_audio(speech("Yes, it's nine zero two one.", voice="en-gb-x-rp", speed=180))
    hyp = heard(cascade_engine, grammar, pcm)
    assert meaning(grammar, hyp.text) != ESCAPE and hyp.engine == "cascade:whisper"


@pytest.mark.slow
def test_a_request_reading_that_names_only_someone_hands_no_one_over(whisper_engine, speech
                                                                   ) -> None:
    """A sentence about a charge (espeak-ng, one voice variant) that the turn's reading makes
    nothing of is read again with the request prompt, and Whisper writes a stock request
    to "someone" from the prompt alone; that is no evidence of a request, so the caller is
    asked again rather than handed over."""
    flow = load_flow(ROOT / "call_flows" / "support.yaml")
    grammar = turn_grammar(listen_for(flow.nodes["anything_else"]))
    pcm = load_phone_audio(speech("Actually, there's a charge I don't recognise.",
                                  voice="en-029+f4", speed=140))
    turn = whisper_engine.prompts(grammar)
    copied = whisper_engine.decode(line_audio(pcm), (turn.request,)).text
    assert meaning(grammar, copied) == ESCAPE and not names_whom(copied, grammar.escapes)
    assert meaning(grammar, heard(whisper_engine, grammar, pcm).text) != ESCAPE


@pytest.mark.slow
def test_cascade_takes_an_unsure_answer_the_grammar_pass_gives_too(
        cascade_engine, whisper_engine, speech) -> None:
    """"Um, yeah." at "anything else?" (espeak-ng, one voice, one line noise): Whisper writes
    "um yes", right but under the threshold, and the caller would be asked again; the
    grammar pass hears "yes" too, sure of it, so the answer is taken."""
    flow = load_flow(ROOT / "call_flows" / "support.yaml")
    grammar = turn_grammar(listen_for(flow.nodes["anything_else"]))
    pcm = load_phone_audio(speech("Um, yeah.", voice="en-gb-scotland+f2", speed=180))
    alone = heard(whisper_engine, grammar, pcm)
    assert meaning(grammar, alone.text) == "intent:1" and alone.confidence < 0.5
    hyp = heard(cascade_engine, grammar, pcm)
    assert hyp.text == alone.text and hyp.confidence >= 0.5


def _order_number_turn() -> Grammar:
    flow = load_flow(ROOT / "call_flows" / "support.yaml")
    return turn_grammar(listen_for(flow.nodes["ask_order_number"]))


@pytest.mark.slow
def test_a_number_inside_a_sentence_misread_greedily_is_read_again_with_a_beam(
        whisper_engine, speech) -> None:
    """espeak-ng (no recording says it): greedy search writes "the order number is free zero
    human high" for this sentence in this voice; the beam's reading of the same encoding
    has the number."""
    grammar = _order_number_turn()
    pcm = load_phone_audio(speech("The order number is three zero seven nine.",
                                  voice="en-us+f3", speed=140))
    greedy_only = WhisperEngine(packaged_dir(), options=WhisperOptions(digits_beam_again=1))
    assert meaning(grammar, heard(greedy_only, grammar, pcm).text) != "digits:3079"
    assert meaning(grammar, heard(whisper_engine, grammar, pcm).text) == "digits:3079"


def test_the_grammar_pass_is_asked_at_a_number_turn_only_when_whisper_gives_nothing() -> None:
    def h(text: str, confidence: float = 0.9) -> Hypothesis:
        return Hypothesis(text=text, confidence=confidence, engine="whisper")

    assert number_unheard(h("were pretty mean that you clean"), NUMBER)
    assert number_unheard(h(""), NUMBER)
    assert number_unheard(h("rapper man three zero please", 0.32), NUMBER)  # unsure
    assert not number_unheard(h("its three seven nine"), NUMBER)  # digits, sure of them
    assert not number_unheard(h("its three o seven nine"), NUMBER)  # a number
    assert not number_unheard(h("i want to talk to an agent"), NUMBER)  # a request
    assert not number_unheard(h("were pretty mean that you clean"), MENU)  # no number turn


def test_cascade_takes_only_a_request_from_a_short_loose_answer() -> None:
    flow_menu = Grammar(phrases=MENU.phrases, groups=MENU.groups, escapes=ESCAPES)

    def h(text: str, confidence: float, engine: str) -> Hypothesis:
        return Hypothesis(text=text, confidence=confidence, engine=engine)

    ps, wh = "pocketsphinx", "whisper"
    # a phrase of the grammar as said, or a request, is not loose; a sentence around one is
    assert not loose(h("my order", 0.9, wh), flow_menu)
    assert not loose(h("operator please", 0.9, wh), flow_menu)
    assert loose(h("order reader", 0.9, wh), flow_menu)
    # from the grammar pass: a sure request for a person, nothing else
    assert grammar_request(h("operator", 0.9, ps), h("order reader", 0.9, wh),
                         flow_menu).engine == "cascade:pocketsphinx"
    assert grammar_request(h("operator", 0.3, ps), h("order reader", 0.9, wh),
                         flow_menu).text == "order reader"
    assert grammar_request(h("billing", 0.99, ps), h("order reader", 0.9, wh),
                         flow_menu).text == "order reader"


def test_cascade_rule() -> None:
    def h(text: str, confidence: float, engine: str) -> Hypothesis:
        return Hypothesis(text=text, confidence=confidence, engine=engine)

    ps, wh = "pocketsphinx", "whisper"
    # Whisper's answer, whatever the grammar pass says, outside numbers
    assert choose(h("agent", 0.9, ps), h("billing", 0.6, wh), MENU).text == "billing"
    # a number of the wrong length gives way to one of the right length
    got = choose(h("four five one two", 0.6, ps), h("four five two", 0.9, wh), NUMBER)
    assert got.text == "four five one two" and got.engine == "cascade:pocketsphinx"
    # but not to another wrong length, nor over a right-length number
    assert choose(h("four five", 0.9, ps), h("four five two", 0.9, wh), NUMBER).engine \
        == "cascade:whisper"
    assert choose(h("four five one two", 0.9, ps), h("four five one one", 0.6, wh),
                  NUMBER).text == "four five one one"
    # the same number from both: the higher confidence
    assert choose(h("four five one two", 0.9, ps), h("four five one two", 0.6, wh),
                  NUMBER).confidence == 0.9
