"""What the configured engine can hear, asked without loading a model, so `voicebot validate`
can tell a designer before any call that a phrase will never be recognised or a free-speech
question can never be answered.

A flow that passes validation must work on a call: pocketsphinx drops a phrase with a word
missing from its dictionary from the grammar (a pharmacy's "zyrtec" was heard as nothing,
with only a log line), and it cannot take free speech at all (every call reaching a `type:
free` question ended in a fault hand-over). The flow layer knows nothing of engines, so this
check lives here and the validate command adds its problems to the flow's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from voicebot.flow.model import Flow
from voicebot.flow.normalize import words
from voicebot.flow.problems import Problem
from voicebot.speech import whisper_models
from voicebot.speech.engines import AUTO_WITH_WHISPER
from voicebot.speech.engines.common import EngineError, spelling
from voicebot.speech.models import ModelError, choose_vosk_model

# Engines whose vocabulary is open (any English word) and that take free speech.
OPEN_VOCABULARY = frozenset({"whisper", "cascade"})


@dataclass(frozen=True)
class Hearing:
    """What one engine can hear: `known(word)` (None: any word) and free speech or not."""

    engine: str
    free_speech: bool
    known: Callable[[str], bool] | None = None
    note: str = ""  # why (which model), for messages

    def unknown_words(self, phrase: str) -> list[str]:
        if self.known is None:
            return []
        return [w for w in words(phrase) if spelling(w, self.known) is None]


def _word_list(path: Path) -> set[str]:
    with open(path, encoding="utf-8") as fh:
        return {line.split(None, 1)[0].split("(", 1)[0] for line in fh if line.strip()}


def hearing_for(kind: str, model_dir: Path | str | None = None,
                vosk_model: Path | str | None = None,
                whisper_model: Path | str | None = None) -> Hearing:
    """What the engine `kind` (as VOICEBOT_ENGINE names it) would hear; raises EngineError
    when the choice cannot be met, as loading it would. `auto` without a Vosk model is the
    cascade when the Whisper weights are there (whisper_model: VOICEBOT_WHISPER_MODEL)."""
    kind = (kind or "auto").lower()
    if kind in OPEN_VOCABULARY:
        return Hearing(kind, free_speech=True, note="open vocabulary")
    if kind in ("auto", "vosk"):
        try:
            path, _why = choose_vosk_model(Path(model_dir or "models"),
                                           Path(vosk_model) if vosk_model else None)
        except ModelError as exc:
            raise EngineError(str(exc)) from None
        if path is not None:
            vocab = next((p for p in (path / "graph" / "words.txt", path / "words.txt")
                          if p.is_file()), None)
            known = _word_list(vocab).__contains__ if vocab else None
            return Hearing("vosk", free_speech=True, known=known, note=str(path))
        if kind == "vosk":
            raise EngineError("engine vosk requested but no Vosk model is installed")
        try:
            whisper = whisper_models.choose(Path(model_dir or "models"),
                                            Path(whisper_model) if whisper_model else None)
        except ModelError as exc:
            raise EngineError(str(exc)) from None
        if whisper is not None:
            return Hearing(AUTO_WITH_WHISPER, free_speech=True, note="open vocabulary")
    elif kind != "pocketsphinx":
        raise EngineError(f"unknown engine {kind!r}")
    from voicebot.speech.engines.pocketsphinx_decode import model_paths

    _hmm, dictionary, _lm = model_paths()
    return Hearing("pocketsphinx", free_speech=False,
                   known=_word_list(dictionary).__contains__, note="its US English dictionary")


def _phrases(flow: Flow) -> Iterator[tuple[str, tuple]]:
    """Every phrase a caller may say, with the YAML path it is written at."""
    for i, phrase in enumerate(flow.policy.escape_phrases):
        yield phrase, ("policy", "escape_phrases", i)
    for nid, node in flow.nodes.items():
        if ("nodes", nid, "policy", "escape_phrases") in flow.marks:
            for i, phrase in enumerate(node.policy.escape_phrases):
                yield phrase, ("nodes", nid, "policy", "escape_phrases", i)
        for intent in node.intents:
            for i, phrase in enumerate(intent.phrases):
                yield phrase, ("nodes", nid, "intents", intent.name, "phrases", i)


def hearing_problems(flow: Flow, file: str, hearing: Hearing) -> list[Problem]:
    """Phrases with words the engine cannot hear (warnings; an error when a question is
    left with nothing to hear), and free-speech questions it cannot take (errors)."""
    problems: list[Problem] = []

    def add(severity: str, message: str, path: tuple) -> None:
        line, col = flow.mark(*path)
        problems.append(Problem(file, line, col, severity, message))  # type: ignore[arg-type]

    engine = f"the {hearing.engine} engine"
    for phrase, path in _phrases(flow):
        missing = hearing.unknown_words(phrase)
        if missing:
            add("warning", f"{engine} cannot hear {', '.join(repr(w) for w in missing)} (not "
                           f"in {hearing.note}): the phrase '{phrase}' is left out of what it "
                           "listens for", path)
    for nid, node in flow.nodes.items():
        if node.kind == "collect" and node.slot_type == "free" and not hearing.free_speech:
            add("error", f"'{nid}' asks for free speech, which {engine} cannot recognise "
                         "(every call reaching it would be handed to a person as a fault): "
                         "use an engine that takes free speech, or ask with phrases",
                ("nodes", nid, "type"))
        if node.kind in ("ask", "menu") and hearing.known is not None:
            phrases = [p for i in node.intents for p in i.phrases] + \
                list(node.policy.escape_phrases)
            if all(hearing.unknown_words(p) for p in phrases):
                add("error", f"{engine} can hear none of the phrases of '{nid}': a caller who "
                             "speaks there is handed to a person as a fault",
                    ("nodes", nid, "intents"))
    return problems
