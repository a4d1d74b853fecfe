#!/usr/bin/env python3
"""Re-derive the shipped MLLR matrix (voicebot/speech/engines/data/en-us-phone.mllr): one global
MLLR mean transform that adapts pocketsphinx's bundled en-us model to phone audio.

Why: the bundled en-us acoustic model was trained on 16 kHz wide-band speech, but callers reach
us as band-limited 8 kHz mu-law audio (upsampled to 16 kHz for the decoder). One global MLLR
transform of the Gaussian means (a single regression class, so 3 x 13 x 14 numbers) is channel
adaptation: it moves the whole model towards the phone channel and has too few parameters to
learn the speakers (MAP adaptation, which can, is not used). What it gains, with each speaker
left out in turn too, is in the README ("Adapted to phone audio").

Needs: the SphinxTrain tools (Debian/Ubuntu:
`apt-get install sphinxtrain sphinxbase-utils pocketsphinx` for bw, mllr_solve, sphinx_fe and
pocketsphinx_mdef_convert), the pocketsphinx Python package (its bundled en-us model) and the
FSDD recordings in ../shared/data/fsdd beside the checkout, or wherever FSDD_DIR points.

Steps (in a temporary work dir, or --workdir to keep everything): copy the model, convert its
mdef to text and its sendump to a mixture_weights file (bw needs both), prepare the TUNING
clips (FSDD indices 0-9, never the held-out 10-24) exactly as the engine hears them in
scripts/bench_digits.py (load_phone_audio -> line_audio -> endpointer -> DecodeCore._prepare:
level scaling, pad noise, upsampling to 16 kHz; none of it depends on the MLLR), sphinx_fe with
`-remove_silence no` (pocketsphinx 5 decodes without VAD), one bw pass, mllr_solve.

    python scripts/adapt_pocketsphinx.py                        # writes the shipped matrix
    python scripts/adapt_pocketsphinx.py --out /tmp/x.mllr --workdir /tmp/adapt
    python scripts/adapt_pocketsphinx.py --leave-out nicolas --out /tmp/loso_nicolas.mllr

The engine applies the shipped matrix by default (PocketsphinxOptions.mllr). For the
leave-one-speaker-out table, for each speaker: --leave-out SPEAKER --out /tmp/loso_SPEAKER.mllr,
then `scripts/bench_digits.py --split held-out --set "mllr='/tmp/loso_SPEAKER.mllr'"` and read
that speaker's row; the baseline is `--set mllr=None` (the unadapted model).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "voicebot" / "speech" / "engines" / "data" / "en-us-phone.mllr"
TUNE_INDICES = range(0, 10)  # the tuning split; held-out clips (10-24) are never adapted on
APT = "apt-get install sphinxtrain sphinxbase-utils pocketsphinx"
SPHINXTRAIN_LIBEXEC = Path("/usr/lib/sphinxtrain")  # where Debian puts bw and mllr_solve
CLIP = re.compile(r"(\d)_(\w+?)_(\d+)\.wav$")


class Failure(Exception):
    """A one-line reason to stop (printed without a traceback)."""


# ------------------------------------------------------------------------------------ inputs


def tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if (SPHINXTRAIN_LIBEXEC / name).is_file():
        return str(SPHINXTRAIN_LIBEXEC / name)
    raise Failure(f"{name} not found (on PATH or in {SPHINXTRAIN_LIBEXEC}): {APT}")


def find_fsdd() -> Path:
    env = os.environ.get("FSDD_DIR")
    fsdd = Path(env) if env else ROOT.parent / "shared" / "data" / "fsdd"
    if any(CLIP.match(p.name) for p in fsdd.glob("*.wav")):
        return fsdd
    where = f"FSDD_DIR={env}" if env else str(fsdd)
    raise Failure(f"FSDD recordings not found ({where} has no <digit>_<speaker>_<index>.wav): "
                  "set FSDD_DIR or put shared/data/fsdd beside the checkout")


def tuning_clips(fsdd: Path, leave_out: str | None) -> list[tuple[Path, int, str, int]]:
    """(path, digit, speaker, index) of the tuning clips, without the left-out speaker."""
    clips = []
    for path in sorted(fsdd.glob("*.wav")):
        m = CLIP.match(path.name)
        if m and int(m[3]) in TUNE_INDICES:
            clips.append((path, int(m[1]), m[2], int(m[3])))
    speakers = sorted({c[2] for c in clips})
    if leave_out is not None:
        if leave_out not in speakers:
            raise Failure(f"--leave-out {leave_out}: no such FSDD speaker (have: "
                          f"{', '.join(speakers)})")
        clips = [c for c in clips if c[2] != leave_out]
    if not clips:
        raise Failure(f"no tuning clips (indices 0-9) in {fsdd}")
    return clips


# ----------------------------------------------------------------------------------- running


def run(args: list[str], log: Path) -> None:
    """Run a tool with its output in `log`; a non-zero exit is a Failure quoting the log."""
    name = Path(args[0]).name
    with open(log, "w") as fh:
        try:
            code = subprocess.run(args, stdout=fh, stderr=subprocess.STDOUT).returncode
        except OSError as exc:
            raise Failure(f"{name} could not start: {exc}") from None
    if code != 0:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        tail = " | ".join(lines[-3:]) or "no output"
        raise Failure(f"{name} exited with {code}: {tail}")


def step(text: str) -> None:
    print(f"adapt: {text}", flush=True)


# ----------------------------------------------------------------------------------- the model


def copy_model(base: Path) -> Path:
    """Copy the wheel's en-us model into `base`; returns the pronunciation dictionary."""
    try:
        from voicebot.speech.engines.common import EngineError
        from voicebot.speech.engines.pocketsphinx_decode import model_paths
    except ImportError as exc:
        raise Failure(f"cannot import voicebot from {ROOT} ({exc}); "
                      "pip install -e . in the checkout") from None
    try:
        hmm, dictionary, _ = model_paths()
    except EngineError as exc:
        raise Failure(str(exc)) from None
    shutil.copytree(hmm, base, dirs_exist_ok=True)
    for need in ("mdef", "means", "variances", "sendump", "transition_matrices", "noisedict",
                 "feat.params"):
        if not (base / need).is_file():
            raise Failure(f"pocketsphinx model {hmm} has no {need} (reinstall pocketsphinx)")
    shutil.copy(dictionary, base.parent / dictionary.name)
    return base.parent / dictionary.name


def sendump_to_mixw(src: Path, dst: Path) -> None:
    """Convert a PTM/semi-continuous 'sendump' (8-bit quantised log mixture weights) into a
    SphinxTrain s3 'mixture_weights' file (float32 n_sen x n_feat x n_density).

    A Python 3 port of sphinxtrain's python/cmusphinx/sendump.py (Carnegie Mellon University,
    BSD-style licence). Checked: sphinxtrain's mk_s2sendump of the result reproduces the
    bundled sendump exactly for every weight above 1e-5."""
    import numpy as np

    raw = src.read_bytes()
    pos = 0

    def rstr() -> tuple[int, str]:
        nonlocal pos
        n = struct.unpack_from("<I", raw, pos)[0]
        s = raw[pos + 4: pos + 4 + n]
        pos += 4 + n
        return n, s.rstrip(b"\0").decode()

    try:
        rstr()  # title
        hdr = {}
        while True:
            n, s = rstr()
            if n == 0:
                break
            k, *v = s.split()
            hdr[k] = v[0] if v else ""
        shift = int(hdr.get("mixw_shift", 10))
        n_feat = int(hdr["feature_count"])
        n_den, n_sen = struct.unpack_from("<II", raw, pos)
    except (struct.error, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise Failure(f"{src}: not a sendump file I can read ({exc!r})") from None
    if int(hdr.get("cluster_count", 0)) != 0:
        raise Failure(f"{src}: clustered sendump (cluster_count) is not supported")
    pos += 8
    need = n_feat * n_den * n_sen
    if pos % 4 and len(raw) - pos > need:  # possible 32-bit alignment padding
        pos += 4 - pos % 4
    if len(raw) - pos != need:
        raise Failure(f"{src}: {len(raw) - pos} bytes of weights, expected {need}")
    q = np.frombuffer(raw, np.uint8, need, pos).reshape(n_feat, n_den, n_sen).astype(np.float64)
    p = np.power(1.0001, -(q * (1 << shift)))  # (feat, density, sen)
    p = p.transpose(2, 0, 1)  # (sen, feat, density)
    p /= p.sum(axis=2, keepdims=True)
    with open(dst, "wb") as fh:
        head = b"s3\nversion 1.0\n"
        pad = (4 - (len(head) + len(b"endhdr\n")) % 4) % 4
        fh.write(head + b" " * pad + b"endhdr\n")
        fh.write(struct.pack("=i", 0x11223344))
        fh.write(struct.pack("=IIII", n_sen, n_feat, n_den, n_sen * n_feat * n_den))
        p.astype("<f4").tofile(fh)


# ------------------------------------------------------------------------------------ audio


def prepare_audio(clips, wav_dir: Path) -> list[tuple[str, str]]:
    """Write wav_dir/<uttid>.wav (16 kHz) for each clip as the decoder would receive it;
    returns (uttid, transcript) for those the endpointer heard speech in."""
    try:
        from voicebot.speech.audio import load_phone_audio, write_wav
        from voicebot.speech.engines.common import DIGIT_WORDS
        from voicebot.speech.engines.pocketsphinx_decode import DecodeCore, PocketsphinxOptions
        from voicebot.speech.evaluate import line_audio, recognize_turn
        from voicebot.speech.types import Grammar, Hypothesis
    except ImportError as exc:
        raise Failure(f"cannot import voicebot from {ROOT} ({exc}); "
                      "pip install -e . in the checkout") from None

    # _prepare reads only options.level, pad_s and pad_noise: the defaults the engine decodes
    # with. The MLLR setting plays no part in it (no decoder is built here).
    core = SimpleNamespace(options=PocketsphinxOptions())
    grammar = Grammar(phrases=("x",))
    wav_dir.mkdir(parents=True, exist_ok=True)
    utts, silent = [], []
    for path, digit, speaker, index in clips:
        cap = _Capture(Hypothesis)
        try:
            pcm8 = load_phone_audio(path)
        except Exception as exc:  # a broken recording: say which one
            raise Failure(f"cannot read {path}: {exc}") from None
        recognize_turn(cap, grammar, line_audio(pcm8, seed=zlib.crc32(path.name.encode())))
        if cap.pcm is None:
            silent.append(path.name)
            continue
        pcm16 = DecodeCore._prepare(core, cap.pcm)[0]
        uttid = f"fsdd_{speaker}_{digit}_{index}"
        write_wav(wav_dir / f"{uttid}.wav", pcm16, 16000)
        utts.append((uttid, DIGIT_WORDS[digit]))
    if silent:
        step(f"no speech heard in {len(silent)} clip(s), skipped: {', '.join(silent[:5])}")
    if not utts:
        raise Failure("the endpointer heard speech in none of the tuning clips")
    return utts


class _Capture:
    """An engine whose recognizer keeps the audio the endpointer hands it (no decoding)."""

    name = model = "capture"

    def __init__(self, hypothesis) -> None:
        self.hypothesis, self.pcm = hypothesis, None

    def recognizer(self, grammar):
        return _CaptureRecognizer(self)


class _CaptureRecognizer:
    def __init__(self, owner: _Capture) -> None:
        self.owner, self.buf = owner, bytearray()

    def accept(self, pcm: bytes) -> None:
        self.buf += pcm

    def finish(self):
        self.owner.pcm = bytes(self.buf)
        return self.owner.hypothesis(text="", confidence=0.0)


# ------------------------------------------------------------------------------------- main


def adapt(work: Path, out: Path, leave_out: str | None, passes: int = 1) -> None:
    tools = {name: tool(name) for name in ("pocketsphinx_mdef_convert", "sphinx_fe", "bw",
                                           "mllr_solve")}
    fsdd = find_fsdd()
    clips = tuning_clips(fsdd, leave_out)
    base, logs = work / "base", work / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    step(f"model -> {base}")
    dictionary = copy_model(base)
    run([tools["pocketsphinx_mdef_convert"], "-text", str(base / "mdef"),
         str(base / "mdef.txt")], logs / "mdef_convert.log")
    sendump_to_mixw(base / "sendump", base / "mixture_weights")

    who = f"without {leave_out}" if leave_out else "all speakers"
    step(f"preparing {len(clips)} tuning clips from {fsdd} ({who})")
    utts = prepare_audio(clips, work / "wav")
    fileids, transcription = work / "fileids", work / "transcription"
    fileids.write_text("".join(f"{u}\n" for u, _ in utts))
    transcription.write_text("".join(f"<s> {words} </s> ({u})\n" for u, words in utts))

    step(f"features for {len(utts)} clips (sphinx_fe)")
    run([tools["sphinx_fe"], "-argfile", str(base / "feat.params"), "-samprate", "16000",
         "-c", str(fileids), "-di", str(work / "wav"), "-do", str(work / "feat"),
         "-ei", "wav", "-eo", "mfc", "-mswav", "yes", "-remove_silence", "no"],
        logs / "sphinx_fe.log")

    # --passes N: each further bw aligns the clips with the model adapted by the last matrix,
    # and mllr_solve re-estimates against the original means (what pocketsphinx applies the
    # matrix to). The shipped matrix is one pass: a second one costs French-accented callers.
    matrix: Path | None = None
    for n in range(1, passes + 1):
        step(f"statistics, pass {n} of {passes} (bw)")
        accum = work / f"accum{n}"
        accum.mkdir(exist_ok=True)
        run([tools["bw"], "-hmmdir", str(base), "-moddeffn", str(base / "mdef.txt"),
             "-ts2cbfn", ".ptm.", "-feat", "1s_c_d_dd", "-svspec", "0-12/13-25/26-38",
             "-cmn", "batch", "-agc", "none", "-varnorm", "no",
             "-dictfn", str(dictionary), "-fdictfn", str(base / "noisedict"),
             "-ctlfn", str(fileids), "-lsnfn", str(transcription),
             "-cepdir", str(work / "feat"), "-cepext", "mfc", "-accumdir", str(accum),
             *(["-mllrmat", str(matrix)] if matrix else [])],
            logs / f"bw{n}.log")
        step(f"transform, pass {n} of {passes} (mllr_solve)")
        matrix = work / f"mllr_matrix{n}"
        run([tools["mllr_solve"], "-meanfn", str(base / "means"), "-varfn",
             str(base / "variances"), "-outmllrfn", str(matrix), "-accumdir", str(accum)],
            logs / f"mllr_solve{n}.log")
    assert matrix is not None
    text = matrix.read_text() if matrix.is_file() else ""
    if not text.strip() or "nan" in text.lower():
        raise Failure(f"mllr_solve wrote no usable matrix: {matrix}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(matrix, out)
    except OSError as exc:
        raise Failure(f"cannot write {out}: {exc}") from None
    step(f"wrote {out} ({out.stat().st_size} bytes)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="where to write the matrix (default: the shipped one, %(default)s)")
    ap.add_argument("--workdir", type=Path,
                    help="keep the model copy, audio, features and logs here (default: a "
                         "temporary directory, removed afterwards)")
    ap.add_argument("--leave-out", metavar="SPEAKER",
                    help="adapt without this FSDD speaker's clips (leave-one-speaker-out)")
    ap.add_argument("--passes", type=int, default=1, choices=range(1, 6), metavar="N",
                    help="bw + mllr_solve passes, 1-5 (default 1: what is shipped)")
    args = ap.parse_args(argv)
    try:
        if args.workdir:
            adapt(args.workdir.resolve(), args.out, args.leave_out, args.passes)
        else:
            with tempfile.TemporaryDirectory(prefix="adapt_pocketsphinx_") as tmp:
                adapt(Path(tmp), args.out, args.leave_out, args.passes)
    except Failure as exc:
        kept = f" (logs in {args.workdir.resolve() / 'logs'})" if args.workdir else ""
        print(f"adapt_pocketsphinx: {exc}{kept}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("adapt_pocketsphinx: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
