"""`voicebot evaluate MANIFEST.csv`: how well the speech path hears, per group of callers.

Each recording goes through what a phone call does to it: resampled to 8 kHz, mu-law encoded
and decoded, framed by the line's silence (recordings are often trimmed to the first sample
of speech; a caller's line never is), cut by the endpointer, and recognised by the engine.
The silence is the digital silence the Twilio simulator sends between a caller's words, so a
clip gets here exactly the text and confidence `voicebot replay` records for it at the same
node (the benchmarks' `line_audio` adds low-level noise instead).

A recording whose manifest row names a flow node (`node`, and `flow` or --flow) is heard as
a call hears a caller's turn at that node: the node's grammar (its phrases, the escape
phrases, digits), the call's end silences and its early end of a turn that is already
decided. Otherwise the turn listens for the given phrases, or for any string of digits.

Expected and heard text are compared after the shared normaliser, digits either way ("4"
= "four"), as a call compares them. We report exact-match accuracy, word error rate,
accuracy per segment and the largest gap between two segments (the fairness figure), the
real-time factor of recognition, and the share of results under the confidence threshold.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicebot.errors import VoicebotError
from voicebot.flow.events import Listen
from voicebot.flow.normalize import digit_form
from voicebot.settings import EndpointSettings
from voicebot.speech.audio import frames, load_phone_audio
from voicebot.speech.endpoint import Endpointer
from voicebot.speech.engines.common import DEFAULT_THRESHOLD
from voicebot.speech.turn_end import (
    EndSilence,
    complete_check_ms,
    decides,
    end_silence,
    ends_early,
    turn_grammar,
)
from voicebot.speech.types import (
    FRAME_BYTES,
    FRAME_MS,
    PHONE_RATE,
    EarlyDecoder,
    Engine,
    Grammar,
    Hypothesis,
)

LINE_PAD_S = 0.5  # line audio before and after each recording
LINE_NOISE_RMS = 8.0  # about -72 dBFS: a quiet line, below the endpointer's onset level
CALL_LINE_NOISE_RMS = 0.0  # what a replayed call's caller sends around speech: digital silence
COLUMNS = ("audio", "expected", "segment")  # required; `node` and `flow` are optional


class ManifestError(VoicebotError):
    """The manifest or one of the recordings it names is unusable."""


@dataclass(frozen=True)
class Item:
    audio: Path
    expected: str
    segment: str
    row: int  # line number in the manifest (header is line 1)
    manifest: Path | None = None
    node: str | None = None  # "node" or "node:confirm": heard as a call's turn there
    flow: Path | None = None  # the flow of `node`
    written: str = ""  # the audio column as the manifest writes it

    @property
    def where(self) -> str:
        return f"{self.manifest}:{self.row}" if self.manifest else f"row {self.row}"


@dataclass(frozen=True)
class TurnSpec:
    """What a recording's turn listens for, and how it ends: a call's Listen, with the
    escape phrases and threshold of its node (none for a plain phrase list)."""

    listen: Listen
    escape_phrases: tuple[str, ...] = ()
    escape_threshold: float = DEFAULT_THRESHOLD

    @property
    def grammar(self) -> Grammar:
        return turn_grammar(self.listen)

    def takes(self, expected: str) -> bool:
        """Whether the turn can hear `expected` as written (after the normaliser)."""
        want = digit_form(expected)
        grammar = self.grammar
        if not want or grammar.is_free or any(digit_form(p) == want for p in grammar.phrases):
            return True
        tokens = want.split()
        return grammar.allow_digits and all(t.isdigit() for t in tokens) and (
            grammar.max_digits is None or len(tokens) <= grammar.max_digits)


def phrase_turn(phrases: tuple[str, ...]) -> TurnSpec:
    """A turn listening for `phrases`, or for any string of digits when there are none."""
    if phrases:
        return TurnSpec(Listen(node="", grammar=phrases, no_input_timeout=5.0,
                               confidence_threshold=DEFAULT_THRESHOLD))
    return TurnSpec(Listen(node="", grammar=(), no_input_timeout=5.0,
                           confidence_threshold=DEFAULT_THRESHOLD, slot_kind="digits"))


def turns_for(items: list[Item], phrases: tuple[str, ...] = (), flow: Path | None = None
              ) -> Callable[[Item], TurnSpec]:
    """What each recording's turn listens for: its node's turn (as a call hears it there)
    when the row names a node, else `phrases` (or digits). Checks every row first, so a
    manifest naming a node its flow lacks fails before any decoding."""
    from voicebot.flow.loader import load_flow
    from voicebot.flow.turns import listen_for

    flows: dict[Path, object] = {}
    turns: dict[tuple[Path, str], TurnSpec] = {}
    plain = phrase_turn(phrases)
    for item in items:
        if not item.node:
            continue
        path = flow or item.flow
        if path is None:
            raise ManifestError(f"{item.where}: node {item.node!r} needs its flow: a flow "
                                "column in the manifest, or --flow FLOW")
        if path not in flows:
            flows[path] = load_flow(path)
        nid, _, confirming = item.node.partition(":")
        node = flows[path].nodes.get(nid)  # type: ignore[attr-defined]
        if node is None or confirming not in ("", "confirm"):
            raise ManifestError(f"{item.where}: no node {item.node!r} in {path} (a node id, "
                                "or id:confirm for its confirmation)")
        turns[(path, item.node)] = TurnSpec(listen_for(node, confirming=bool(confirming)),
                                            tuple(node.policy.escape_phrases),
                                            node.policy.escape_threshold)
    return lambda item: turns[(flow or item.flow, item.node)] if item.node else plain


@dataclass
class Result:
    item: Item
    hypothesis: Hypothesis
    audio_s: float
    decode_s: float
    threshold: float = DEFAULT_THRESHOLD  # the turn's confidence threshold

    @property
    def correct(self) -> bool:
        return digit_form(self.hypothesis.text) == digit_form(self.item.expected)


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def summary(self) -> dict:
        n = len(self.results)
        segments: dict[str, dict] = {}
        for r in self.results:
            seg = segments.setdefault(r.item.segment, {"n": 0, "correct": 0})
            seg["n"] += 1
            seg["correct"] += r.correct
        seg_out = {name: {"n": s["n"], "accuracy": s["correct"] / s["n"]}
                   for name, s in sorted(segments.items())}
        accs = [s["accuracy"] for s in seg_out.values()]
        errors = sum(word_errors(r.item.expected, r.hypothesis.text) for r in self.results)
        ref_words = sum(max(1, len(digit_form(r.item.expected).split())) for r in self.results)
        audio = sum(r.audio_s for r in self.results)
        return {
            "n": n,
            "accuracy": sum(r.correct for r in self.results) / n if n else 0.0,
            "wer": errors / ref_words if n else 0.0,
            "rtf": sum(r.decode_s for r in self.results) / audio if audio else 0.0,
            "low_confidence_rate": (sum(r.hypothesis.confidence < r.threshold
                                        for r in self.results) / n) if n else 0.0,
            "max_gap": (max(accs) - min(accs)) if accs else 0.0,
            "segments": seg_out,
        }


# ------------------------------------------------------------------------ manifest


def load_manifest(path: Path) -> list[Item]:
    """Rows of audio,expected,segment[,node,flow]; paths relative to the manifest. Checks
    that the recordings exist."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ManifestError(f"{path}:1: missing column(s) {', '.join(missing)} (need "
                            f"{','.join(COLUMNS)}; found {','.join(header) or 'nothing'})")
    items = []
    for i, row in enumerate(reader, start=2):
        if None in row:
            raise ManifestError(f"{path}:{i}: more fields than columns (quote values that "
                                'contain commas: "one, two")')
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        if not row["audio"]:
            raise ManifestError(f"{path}:{i}: empty audio path")
        audio = (path.parent / row["audio"]).resolve()
        if not audio.is_file():
            raise ManifestError(f"{path}:{i}: audio file not found: {row['audio']}")
        flow = (path.parent / row["flow"]).resolve() if row.get("flow") else None
        items.append(Item(audio=audio, expected=row["expected"],
                          segment=row["segment"] or "(none)", row=i, manifest=path,
                          node=row.get("node") or None, flow=flow, written=row["audio"]))
    if not items:
        raise ManifestError(f"{path}: the manifest has no rows")
    return items


def load_phrases(path: Path) -> tuple[str, ...]:
    """One phrase a line; blank lines and # comments ignored."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the phrases ({exc})") from None
    phrases = tuple(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))
    if not phrases:
        raise ManifestError(f"{path}: no phrases in the file")
    return phrases


# ------------------------------------------------------------------------ phone path


def line_audio(pcm: bytes, pad_s: float = LINE_PAD_S, noise_rms: float = LINE_NOISE_RMS,
               seed: int = 0) -> bytes:
    """The recording as the line carries it: framed by pad_s of low-level noise each side."""
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    n = int(pad_s * PHONE_RATE)
    x = np.concatenate([np.zeros(n), x, np.zeros(n)])
    if noise_rms:
        x = x + np.random.default_rng(seed).normal(0.0, noise_rms, x.size)
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


EndsTurn = Callable[[Hypothesis], bool]


def recognize_turn(engine: Engine, grammar: Grammar, pcm: bytes,
                   endpoint: EndpointSettings | None = None) -> tuple[Hypothesis, float]:
    """Run 8 kHz line audio through the endpointer into one recognizer with `grammar`.

    Everything from the first speech start to the last end of speech goes to the recognizer
    (a caller may pause inside a turn), unless, as in a call, a phrase that decides the turn
    was heard at the short silence (complete_end_ms): the turn ends there. Returns the
    hypothesis and the seconds the recognizer took (accept + finish), which is what the
    real-time factor counts.
    """
    settings = endpoint or EndpointSettings()
    end = EndSilence(None, complete_check_ms(grammar, settings))
    return _recognize(engine, grammar, end, pcm, settings,
                      lambda early: decides(grammar, early, DEFAULT_THRESHOLD))


def recognize_call_turn(engine: Engine, turn: TurnSpec, pcm: bytes,
                        endpoint: EndpointSettings | None = None) -> tuple[Hypothesis, float]:
    """As recognize_turn, by a call's rules for the turn: its grammar, its end silences (a
    number waits the long silence, checking for an escape phrase at the usual one), its
    early end (speech.turn_end.ends_early)."""
    from voicebot.flow.matching import is_escape

    settings = endpoint or EndpointSettings()

    def ends(early: Hypothesis) -> bool:
        escape = bool(turn.escape_phrases) and is_escape(early.text, turn.escape_phrases)
        return ends_early(turn.listen, early, escape_only=False, is_escape=escape,
                          escape_threshold=turn.escape_threshold) is not None

    return _recognize(engine, turn.grammar, end_silence(turn.listen, settings), pcm, settings,
                      ends)


def _recognize(engine: Engine, grammar: Grammar, end: EndSilence, pcm: bytes,
               settings: EndpointSettings, ends: EndsTurn) -> tuple[Hypothesis, float]:
    ep = Endpointer(settings)
    ep.listen(0.0, None, speech_end_ms=end.speech_end_ms, check_ms=end.check_ms)
    rec = None
    spent = 0.0
    for i, frame in enumerate(frames(pcm, FRAME_BYTES)):
        result = ep.feed(frame, i * FRAME_MS / 1000)
        if result.audio:
            t0 = time.perf_counter()
            if rec is None:
                rec = engine.recognizer(grammar)
            rec.accept(result.audio)
            spent += time.perf_counter() - t0
        if rec is None:
            continue
        kinds = {e.kind: e for e in result.events}
        if "speech_pause" in kinds and isinstance(rec, EarlyDecoder):
            # As a call does: the decode starts at the pause.
            rec.prefetch(kinds["speech_pause"].tail_ms)
        if "end_check" in kinds and isinstance(rec, EarlyDecoder):
            t0 = time.perf_counter()
            early = rec.peek()
            spent += time.perf_counter() - t0
            if early is not None and early.text and early.in_grammar and ends(early):
                break
    if rec is None:  # the endpointer heard no speech
        return Hypothesis(text="", confidence=0.0, in_grammar=False, engine=engine.name), 0.0
    t0 = time.perf_counter()
    hyp = rec.finish()
    return hyp, spent + time.perf_counter() - t0


def evaluate_items(engine: Engine, turn_of: Callable[[Item], TurnSpec], items: Iterable[Item],
                   *, endpoint: EndpointSettings | None = None,
                   on_result: Callable[[Result], None] | None = None) -> Report:
    """Every recording heard as the turn `turn_of(item)` (see recognize_call_turn)."""
    report = Report()
    for item in items:
        try:
            pcm = load_phone_audio(item.audio)
        except VoicebotError as exc:
            raise ManifestError(f"{item.where}: {item.audio.name}: {exc}") from None
        turn = turn_of(item)
        line = line_audio(pcm, noise_rms=CALL_LINE_NOISE_RMS)
        hyp, spent = recognize_call_turn(engine, turn, line, endpoint)
        result = Result(item, hyp, len(pcm) / (2 * PHONE_RATE), spent,
                        turn.listen.confidence_threshold)
        report.results.append(result)
        if on_result:
            on_result(result)
    return report


def outside_grammar(items: Iterable[Item], turn_of: Callable[[Item], TurnSpec]) -> list[Item]:
    """The recordings whose expected text their turn cannot hear as written: they can only
    ever count as wrong (a typo, or the wrong grammar)."""
    return [item for item in items if not turn_of(item).takes(item.expected)]


def word_errors(reference: str, hypothesis: str) -> int:
    """Levenshtein distance between the word sequences (substitutions, insertions, deletions),
    after the shared normaliser with digits either way."""
    ref, hyp = digit_form(reference).split(), digit_form(hypothesis).split()
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]
