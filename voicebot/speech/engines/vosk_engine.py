"""Vosk (Kaldi) engine: one Model per process shared by every call, one recognizer a turn.

Why the model cache is module-level: a Vosk model is hundreds of MB and seconds to load, and
`vosk.Model` is safe to share between threads (each KaldiRecognizer is not; one per turn).
Grammar: Vosk's runtime grammar is a JSON list of phrases; "[unk]" is its reject path for
speech outside them (models without a runtime graph ignore the list and decode freely).
Confidence: Kaldi's per-word posteriors (MBR confidences); the utterance takes the weakest
word, since one misheard word is enough to make an answer wrong. A reject ("[unk]") caps it.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from voicebot.logs import log_event
from voicebot.speech.engines.common import (
    DIGIT_ALIASES,
    DIGIT_WORDS,
    EngineError,
    clamp01,
    grammar_phrases,
    normalize,
    spelling,
)
from voicebot.speech.types import PHONE_RATE, Grammar, Hypothesis, Word

log = logging.getLogger(__name__)
UNK = "[unk]"
REJECT_CONFIDENCE = 0.2  # the most a result that hit the reject path can score

_models: dict[Path, object] = {}
_models_lock = threading.Lock()


def shared_model(path: Path):
    """The process-wide vosk.Model for `path` (loaded on first use, then reused)."""
    path = Path(path).resolve()
    with _models_lock:
        model = _models.get(path)
        if model is None:
            import vosk  # lazily: a heavy import, needed only when this engine is chosen

            vosk.SetLogLevel(-1)
            if not (path / "am" / "final.mdl").exists():
                raise EngineError(f"{path} is not a Vosk model directory (no am/final.mdl)")
            try:
                model = vosk.Model(str(path))
            except Exception as exc:  # noqa: BLE001 - vosk raises bare Exception
                raise EngineError(f"Vosk could not load the model in {path}: {exc}") from None
            _models[path] = model
        return model


class VoskEngine:
    name = "vosk"

    def __init__(self, model_path: Path | str) -> None:
        self.path = Path(model_path)
        self.model = str(self.path)
        self._vosk_model = shared_model(self.path)
        self._has_runtime_graph = (self.path / "graph" / "HCLr.fst").exists() or (
            self.path / "HCLr.fst").exists()
        # Without "[unk]" in the vocabulary a grammar has no reject path: out-of-grammar
        # speech is forced onto the nearest phrase (Vosk's small English models have it).
        self.has_reject = self.known(UNK)
        if not self._has_runtime_graph:
            log_event(log, "speech.vosk.no_runtime_grammar", level=logging.WARNING,
                      model=self.model)
        elif not self.has_reject:
            log_event(log, "speech.vosk.no_reject_word", level=logging.WARNING,
                      model=self.model)

    def known(self, word: str) -> bool:
        """Whether the model's vocabulary has `word` (True when it cannot be checked)."""
        try:
            return self._vosk_model.vosk_model_find_word(word) >= 0
        except Exception:  # noqa: BLE001 - a vosk without the look-up: let Vosk decide
            return True

    def recognizer(self, grammar: Grammar) -> VoskRecognizer:
        import vosk  # already loaded by shared_model(); see there

        phrases = list(grammar_phrases(grammar))
        if grammar.allow_digits:
            phrases += [w for w in DIGIT_WORDS + DIGIT_ALIASES if w not in phrases]
        # As the vocabulary spells them ("thats" -> "that's"): normalised phrases have no
        # apostrophes, the model's words do. Hypotheses are normalised back.
        spelled = [[spelling(w, self.known) for w in p.split()] for p in phrases]
        usable = [" ".join(ws) for ws in spelled if all(ws)]
        if len(usable) < len(phrases):
            log_event(log, "speech.grammar.unknown_words", level=logging.WARNING,
                      engine=self.name, dropped_phrases=len(phrases) - len(usable))
        if phrases and not usable:
            raise EngineError("no phrase of the grammar is in the Vosk model's vocabulary")
        if usable and self._has_runtime_graph:
            reject = [UNK] if self.has_reject else []
            rec = vosk.KaldiRecognizer(self._vosk_model, PHONE_RATE,
                                       json.dumps(usable + reject, ensure_ascii=False))
        else:
            rec = vosk.KaldiRecognizer(self._vosk_model, PHONE_RATE)
        rec.SetWords(True)
        return VoskRecognizer(rec, constrained=bool(usable))


class VoskRecognizer:
    """One turn. Vosk may cut a long turn into several results; finish() joins them."""

    def __init__(self, rec, constrained: bool) -> None:
        self._rec = rec
        self._constrained = constrained
        self._results: list[dict] = []
        self._partial = ""
        self._done = False

    def accept(self, pcm: bytes) -> str | None:
        if self._done:
            raise RuntimeError("recognizer already finished")
        if not pcm:
            return None
        if self._rec.AcceptWaveform(bytes(pcm[: len(pcm) // 2 * 2])):
            self._results.append(json.loads(self._rec.Result()))
            text = self._partial_text()
        else:
            part = json.loads(self._rec.PartialResult()).get("partial", "")
            text = " ".join(filter(None, [self._partial_text(), _strip_unk(part)]))
        if text and text != self._partial:
            self._partial = text
            return text
        return None

    def _partial_text(self) -> str:
        return " ".join(filter(None, (_strip_unk(r.get("text", "")) for r in self._results)))

    def finish(self) -> Hypothesis:
        if self._done:
            raise RuntimeError("recognizer already finished")
        self._done = True
        self._results.append(json.loads(self._rec.FinalResult()))
        raw = [w for r in self._results for w in r.get("result", [])]
        words = tuple(Word(word=normalize(w["word"]), start=float(w["start"]),
                           end=float(w["end"]), confidence=clamp01(float(w.get("conf", 0.0))))
                      for w in raw if w.get("word") != UNK)
        rejected = any(w.get("word") == UNK for w in raw) or any(
            UNK in r.get("text", "").split() for r in self._results)
        text = normalize(" ".join(w.word for w in words))
        if not text:
            return Hypothesis(text="", confidence=0.0, in_grammar=not rejected,
                              engine="vosk")
        confidence = min(w.confidence for w in words)
        if rejected:
            # Part of the turn was outside the grammar: keep what was heard, flag it.
            confidence = min(confidence, REJECT_CONFIDENCE)
        return Hypothesis(text=text, confidence=confidence, words=words,
                          in_grammar=not rejected, engine="vosk")


def _strip_unk(text: str) -> str:
    return " ".join(w for w in text.split() if w != UNK)
