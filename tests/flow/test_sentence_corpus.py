"""The sentence corpus typed into `voicebot chat` (the same FlowSession and matcher as a
call): every request for a person hands over, nothing else does, and no sentence is taken
as a wrong answer. A sentence the flow's phrases do not cover may be asked again."""

from __future__ import annotations

import io
from collections import Counter

import pytest

from tests.corpus.corpus import chat_outcome, load
from voicebot.flow.chat import ChatRunner
from voicebot.flow.loader import load_flow

CORPUS = load()
FLOW = load_flow(CORPUS.flow)


@pytest.mark.parametrize("sentence", CORPUS.sentences, ids=lambda s: f"{s.index}-{s.at}")
def test_chat_never_takes_a_sentence_wrongly(sentence):
    got = chat_outcome(FLOW, CORPUS.positions[sentence.at], sentence.text)
    if sentence.expect == "escape":
        assert got == "escape", sentence.text
    else:
        assert got in (sentence.expect, "none"), sentence.text


def test_the_corpus_has_what_the_benchmark_needs():
    assert len(CORPUS.sentences) >= 150
    categories = Counter(s.category for s in CORPUS.sentences)
    assert {"escape", "order", "billing", "yes", "no", "digits", "off_topic"} <= set(categories)
    held = Counter(s.category for s in CORPUS.sentences if s.split == "held-out")
    assert all(held[c] > 0 for c in categories)  # every category is held out in part
    assert {"tune", "held-out"} <= set(CORPUS.voices) and len(CORPUS.speeds) >= 2
    assert len(CORPUS.voices["tune"]) + len(CORPUS.voices["held-out"]) >= 6
    voices = [v for vs in CORPUS.voices.values() for v in vs]
    assert len(voices) == len(set(voices))  # a voice is in one set only
    # Each position is where its keys lead (the confirmation is the order number's node).
    for position, keys in CORPUS.positions.items():
        runner = ChatRunner(FLOW, io.StringIO())
        runner.start()
        for k in keys:
            runner.say(f"#{k}")
        assert runner.listen is not None and not runner.session.ended
        assert runner.listen.node == position.replace("confirm_", "ask_"), position
        assert (runner.listen.slot_kind == "yes_no") == position.startswith("confirm_")


def test_chat_understands_most_of_the_corpus():
    right = sum(chat_outcome(FLOW, CORPUS.positions[s.at], s.text) == s.expect
                for s in CORPUS.sentences)
    assert right >= 0.95 * len(CORPUS.sentences)
