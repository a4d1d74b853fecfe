"""A sentence means the same in a call as in `voicebot chat`: the corpus sentence rendered with
espeak-ng (no recording says it), played through offline replay with the real engines
(pocketsphinx alone, and the cascade of Whisper and pocketsphinx that `auto` takes), the
call's endpointing, grammars and thresholds, gives what the same words typed in chat give."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.corpus.corpus import call_outcome, chat_outcome, load
from voicebot.flow.loader import load_flow
from voicebot.replay.offline import ReplayEnv
from voicebot.settings import Settings
from voicebot.speech.audio import load_phone_audio
from voicebot.speech.engines.cascade import CascadeEngine
from voicebot.speech.engines.whisper_engine import WhisperEngine

CORPUS = load()
FLOW = load_flow(CORPUS.flow)
# Sentences of each kind that the grammar pass hears in every benchmark voice.
SENTENCES = ("I'd like to speak to someone, please.", "My order hasn't arrived.",
             "Yes, that's right.", "Yes, I'd like to check another order.", "No thanks.",
             "The person at the door said I should call.")


def understood_alike(env: ReplayEnv, text: str, speech) -> str:
    """Plays the corpus sentence through a call in `env` and types it into chat; both must
    give what the corpus expects. Returns the call's hand-over reason (or "")."""
    sentence = next(s for s in CORPUS.sentences if s.text == text)
    keys = CORPUS.positions[sentence.at]
    pcm = load_phone_audio(speech(text, voice="en-us", speed=140))
    call = call_outcome(env, CORPUS.flow, keys, pcm)
    typed = chat_outcome(FLOW, keys, text)
    assert call.got == typed == sentence.expect, (call.turn, call.result.transcript.reason)
    return call.result.transcript.reason or ""


@pytest.mark.parametrize("text", SENTENCES)
def test_a_call_and_chat_understand_a_sentence_alike(text, replay_env, speech):
    understood_alike(replay_env, text, speech)


# Sentences of each kind, at each point of the flow, that the cascade hears in every tuning
# voice: an escape inside a sentence (at the menu and while a number is asked for), menu
# requests, a yes, a number with words around it, and a mention of a person that is no
# request.
CASCADE_SENTENCES = ("Can I speak to a person, please?", "I need to talk to a human.",
                     "I have a question about my bill.", "Can you check where my package is?",
                     "Yes, that's right.", "My order number is four five one two.",
                     "The last agent I spoke to promised me a refund.")


@pytest.fixture(scope="module")
def cascade_env(call_cascade, tts_cache):
    with ReplayEnv(engine=call_cascade, tts_cache=tts_cache, settings=Settings()) as env:
        yield env


@pytest.mark.slow
@pytest.mark.parametrize("text", CASCADE_SENTENCES)
def test_with_whisper_a_call_and_chat_understand_a_sentence_alike(text, cascade_env, speech):
    reason = understood_alike(cascade_env, text, speech)
    if next(s for s in CORPUS.sentences if s.text == text).expect == "escape":
        assert reason == "keyword"


# Sentences Whisper tiny.en misreads at the speed they are said, in these espeak-ng voices
# ("path" for "parcel", "could you transform it" for "could you transfer me", "built" for
# "billed"), and reads right at other speeds.
MISHEARD = (("I need to know when my parcel will arrive.", "en-029"),
            ("Could you transfer me to someone who can help?", "en-029"),
            ("I was billed for something I didn't order.", "en-gb"))


@pytest.fixture(scope="module")
def one_speed_env(call_cascade, tts_cache):
    """The same cascade with Whisper reading each turn at its own speed only."""
    whisper = call_cascade.slow
    one_speed = WhisperEngine(whisper.model_dir, parallel=whisper.parallel,
                              options=replace(whisper.options, other_speeds=()))
    engine = CascadeEngine(call_cascade.fast, one_speed)
    with ReplayEnv(engine=engine, tts_cache=tts_cache, settings=Settings()) as env:
        yield env


@pytest.mark.slow
@pytest.mark.parametrize(("text", "voice"), MISHEARD)
def test_a_sentence_misheard_at_its_own_speed_is_understood_at_others(
        text, voice, cascade_env, one_speed_env, speech):
    sentence = next(s for s in CORPUS.sentences if s.text == text)
    keys = CORPUS.positions[sentence.at]
    pcm = load_phone_audio(speech(text, voice=voice, speed=140))
    once = call_outcome(one_speed_env, CORPUS.flow, keys, pcm)
    assert once.got == "none", once.turn  # read at its own speed only: asked again
    call = call_outcome(cascade_env, CORPUS.flow, keys, pcm)
    assert call.got == chat_outcome(FLOW, keys, text) == sentence.expect, call.turn
    if sentence.expect == "escape":
        assert call.result.transcript.reason == "keyword"
