"""What the live benchmarks share: a real `voicebot serve` on loopback, stand-in calls made
of real recordings (FSDD), and the service's processes read from /proc.

Used by scripts/bench_calls.py, scripts/bench_hosts.py and scripts/soak.py (run from the
checkout: `python scripts/NAME.py`).
"""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicebot.records.crypto import new_key  # noqa: E402
from voicebot.replay.caller import CallerTurn  # noqa: E402
from voicebot.speech.audio import load_phone_audio  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TOKEN = "bench-token"
ORDERS = ["4512", "1234", "2468", "3079"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def speakers() -> list[str]:
    with open(DATA / "fsdd" / "speakers.csv") as f:
        return [row["speaker"] for row in csv.DictReader(f)]


def digits_audio(digits: str, speaker: str, index: int) -> bytes:
    gap = b"\x00" * 3200  # 200 ms between spoken digits
    pad = b"\x00" * 4800
    clips = [load_phone_audio(DATA / "fsdd" / f"{d}_{speaker}_{index}.wav") for d in digits]
    return pad + gap.join(clips) + pad


SENTENCE_AUDIO = ROOT / "var" / "bench-sentences"
SENTENCE_VOICES = (("en-us", 180), ("en-gb", 140), ("en-us", 140), ("en-gb", 180))
# What a call's sentence turns say: corpus sentences the default flow must take as the order
# status at the main menu and as a yes at the confirmation (a misheard one is counted in the
# outcomes: the call then goes another way).
MENU_SENTENCES = ("I'm calling about my order.", "I'd like an update on my order.",
                  "Can you tell me the status of my order?", "I want to track my order, please.")
YES_SENTENCES = ("Yes, that's right.", "Yeah, that's correct.")
# Said first at the menu by every fourth call: sentences the menu must not take, which the
# engine reads again at other speeds before the flow asks again (the costliest turn).
UNCLEAR_SENTENCES = ("What are your opening hours?", "Do you sell shoes?")
KINDS_OF_TURN = {"menu phrase": "phrase", "yes phrase": "phrase", "menu sentence": "sentence",
                 "yes sentence": "sentence", "unclear sentence": "sentence", "digits": "number"}


def spoken(text: str, i: int) -> bytes:
    """A corpus sentence (or phrase) in one of a few espeak-ng voices, framed like the clips."""
    from tests.speechgen import SpeechMaker

    SENTENCE_AUDIO.mkdir(parents=True, exist_ok=True)
    voice, speed = SENTENCE_VOICES[i % len(SENTENCE_VOICES)]
    pad = b"\x00" * 4800
    return pad + load_phone_audio(SpeechMaker(SENTENCE_AUDIO)(text, voice, speed)) + pad


def call_turns(i: int, people: list[str], *, sentences: bool = False) -> list[CallerTurn]:
    """Call i: "one" (FSDD) at the main menu, a four-digit order number spoken digit by digit
    (a different speaker per call), key 1 to confirm, key 9 to finish. With `sentences`, the
    menu and confirmation turns are spoken: "one" or, every other call, a sentence asking
    for the order status (espeak-ng); "yes" or a sentence meaning yes; and every fourth
    call first says something the menu cannot take (UNCLEAR_SENTENCES) and is asked again."""
    speaker = people[i % len(people)]
    index = i // len(people) % 25
    order = ORDERS[i % len(ORDERS)]
    menu = CallerTurn("say", audio=digits_audio("1", speaker, index), label="menu")
    yes = CallerTurn("dtmf", digits="1", label="yes")
    if sentences and i % 2:
        menu = CallerTurn("say", audio=spoken(MENU_SENTENCES[i // 2 % len(MENU_SENTENCES)], i),
                          label="menu sentence")
        yes = CallerTurn("say", audio=spoken(YES_SENTENCES[i // 2 % len(YES_SENTENCES)], i),
                         label="yes sentence")
    elif sentences:
        menu = replace(menu, label="menu phrase")
        yes = CallerTurn("say", audio=spoken("Yes.", i), label="yes phrase")
    first = []
    if sentences and i % 4 == 3:
        first = [CallerTurn("say", audio=spoken(UNCLEAR_SENTENCES[i // 4 % 2], i),
                            label="unclear sentence")]
    return [*first, menu,
            CallerTurn("say", audio=digits_audio(order, speaker, index), label="digits"),
            yes, CallerTurn("dtmf", digits="9", label="done")]


@dataclass
class Live:
    """A running `voicebot serve`: where it listens, its pid, its log; its exit code once
    stopped."""

    base: str
    pid: int
    log: Path
    exit_code: int | None = None


@contextlib.contextmanager
def running_service(**env: str) -> Iterator[Live]:
    """`voicebot serve` on a free loopback port (records and log in a temporary directory)
    with `env` on top; stopped with SIGTERM (it drains) when the block ends."""
    tmp = Path(tempfile.mkdtemp(prefix="voicebot_live_"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "VOICEBOT_API_TOKEN": TOKEN,
               "VOICEBOT_DATA_KEY": new_key(),
               "VOICEBOT_PUBLIC_URL": base, "VOICEBOT_PORT": str(port),
               "VOICEBOT_DB": str(tmp / "calls.sqlite3"), "VOICEBOT_LOG_LEVEL": "warning",
               **env}
    with open(tmp / "service.log", "w") as log:
        service = subprocess.Popen([sys.executable, "-m", "voicebot", "serve"], env=environ,
                                   stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        live = Live(base, service.pid, tmp / "service.log")
        try:
            if not _wait_until_up(service, base):
                raise SystemExit(f"the service did not start; see {live.log}")
            yield live
        finally:
            live.exit_code = _stop(service)


def _wait_until_up(service: subprocess.Popen, base: str) -> bool:
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            return True
        except OSError:
            if service.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.2)


def _stop(service: subprocess.Popen) -> int | None:
    service.terminate()  # drains: calls still open are handed over
    try:
        return service.wait(120)
    except subprocess.TimeoutExpired:
        service.kill()
        return None


def tree(pid: int) -> list[int]:
    """The service process and all its descendants (gunicorn worker, TTS and decoders)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}").glob("task/*/children"):
            with contextlib.suppress(OSError):  # the task ended meanwhile
                todo += [int(c) for c in task.read_text().split()]
    return pids


def proc_cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def proc_mb(pids: list[int], field: str = "VmRSS") -> float:
    """Sum of a /proc/PID/status memory field (VmRSS now, VmHWM at peak) in MB."""
    total = 0.0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:  # ended meanwhile
            continue
        for line in lines:
            if line.startswith(field + ":"):
                total += int(line.split()[1]) / 1024
    return total


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
