"""What scripts/chaos.py's rows share: the service under test and the calls they place.

Harness runs `voicebot serve` on loopback (its own var directory; the default flow with its
order lookup sent to a local HTTP service, tests/orders_server.py), finds its worker
processes, places stand-in calls (also one that runs a fault once it reaches a node), and
watches /readyz while a part is broken (Watch). A row returns a Row for the table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_calls import digits_audio, free_port, tree  # noqa: E402

from tests.orders_server import OrdersServer, flow_with_http_lookup  # noqa: E402
from voicebot.replay.caller import CallerTurn  # noqa: E402
from voicebot.replay.standin import StandinResult, TwilioStandin, new_sid  # noqa: E402
from voicebot.settings import DEFAULT_FLOW  # noqa: E402

TOKEN = "chaos-token"
MAX_CALL_S = 240.0  # stream seconds: room for the minutes a part hung before the fix


def menu_one() -> CallerTurn:
    return CallerTurn("say", audio=digits_audio("1", "jackson", 0), label="menu: one")


def keys(digits: str) -> CallerTurn:
    return CallerTurn("dtmf", digits=digits, label=f"keys {digits}")


NORMAL = [menu_one(), keys("4512"), keys("1"), keys("9")]  # order status, goodbye


@dataclass
class Row:
    name: str
    first_audio_s: float | None = None  # fault -> the bot's next audio, wall seconds
    outcome: str = ""
    next_call: str = ""
    ready: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Harness:
    """The service under test, the lookup server, and what rows need to break things."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.speed = args.speed
        self.tmp = Path(tempfile.mkdtemp(prefix="chaos_"))
        self.orders = OrdersServer()
        self.flow = flow_with_http_lookup(DEFAULT_FLOW, self.tmp / "flow.yaml",
                                          self.orders.url, 3.0)
        self.db = self.tmp / "var" / "calls.sqlite3"
        self.tts_cache = self.tmp / "var" / "tts-cache"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.service: subprocess.Popen | None = None
        self.log_path = self.tmp / "service.log"
        self.used: set[str] = set()

    # ------------------------------------------------------------------ the service

    def start(self) -> None:
        src = Path(self.args.service_path or ROOT)
        env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "VOICEBOT_API_TOKEN": TOKEN,
               "VOICEBOT_PUBLIC_URL": self.base, "VOICEBOT_PORT": str(self.port),
               "VOICEBOT_DB": str(self.db), "VOICEBOT_TTS_CACHE": str(self.tts_cache),
               "VOICEBOT_FLOW": str(self.flow), "VOICEBOT_ENGINE": "pocketsphinx",
               "PYTHONPATH": str(src)}
        with open(self.log_path, "a") as log:
            self.service = subprocess.Popen([sys.executable, "-m", "voicebot", "serve"],
                                            env=env, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=src)
        end = time.monotonic() + 180
        while self.get("/healthz")[0] != 200:
            if self.service.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"the service did not start; see {self.log_path}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.service is not None and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(20)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()

    def died(self) -> str | None:
        """How the service ended, if it did ("SIGBUS", "exit 1")."""
        code = self.service.poll() if self.service else None
        if code is None:
            return None
        return signal.Signals(-code).name if code < 0 else f"exit {code}"

    def get(self, path: str) -> tuple[int, str]:
        req = urllib.request.Request(self.base + path,
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            return 0, type(exc).__name__

    def readyz(self) -> str:
        status, body = self.get("/readyz")
        try:
            parts = json.loads(body)["parts"]
        except (ValueError, KeyError, TypeError):
            return f"{status}"
        broken = [f"{k}: {v['detail']}" for k, v in parts.items() if not v["ok"]]
        return f"{status} " + ("; ".join(broken) if broken else "ready")

    def workers(self, label: str) -> list[int]:
        """Pids of the service's worker processes named `label`-N (decoder, speech)."""
        found = []
        for pid in tree(self.service.pid)[1:]:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"voicebot.speech.worker_process" in argv and argv[-2].startswith(
                    label.encode() + b"-"):
                found.append(pid)
        return found

    # ------------------------------------------------------------------ calls

    def standin(self) -> TwilioStandin:
        return TwilioStandin(self.base + "/voice", auth_token=TOKEN, api_token=TOKEN,
                             speed=self.speed, max_call_s=MAX_CALL_S, http_timeout=60)

    def call(self, turns: list[CallerTurn], sid: str | None = None) -> StandinResult | str:
        try:
            return self.standin().run(turns, call_sid=sid)
        except Exception as exc:  # noqa: BLE001 - a row reports it
            return f"{type(exc).__name__}: {str(exc)[:100]}"

    def call_until(self, turns: list[CallerTurn], node: str,
                   then: Callable[[], None]) -> StandinResult | str:
        """Place a call; once the service's record shows it reached `node`, run `then`
        (a fault just before the caller answers there)."""
        sid, box = new_sid("CA"), []
        caller = threading.Thread(target=lambda: box.append(self.call(turns, sid)))
        caller.start()
        end = time.monotonic() + 120
        while caller.is_alive() and time.monotonic() < end:
            status, body = self.get(f"/calls/{sid}")
            if status == 200 and node in json.loads(body).get("path", []):
                break
            time.sleep(0.1)
        then()
        caller.join()
        return box[0]

    def unused_number(self) -> str:
        """An order number no call has used: its prompts were never rendered."""
        while True:
            number = str(random.randint(5000, 9999))
            if number not in self.used and number not in self.orders.orders:
                self.used.add(number)
                return number

    def watch(self) -> Watch:
        return Watch(self)


class Watch:
    """/readyz every half second while a part is broken: each distinct answer, in order."""

    def __init__(self, h: Harness) -> None:
        self.h, self.seen, self._stop = h, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            answer = re.sub(r"\d+ s\b", "N s", self.h.readyz())  # "since 4 s" ticks
            answer = answer.replace(str(self.h.tmp), "$VAR")
            if not self.seen or self.seen[-1] != answer:
                self.seen.append(answer)


def outcome(call: StandinResult | str) -> str:
    if isinstance(call, str):
        return f"stand-in failed: {call}"
    t = call.transcript
    after = "hang-up" if "<Hangup" in (call.twiml_after or "") else (
        "queue" if "<Enqueue" in (call.twiml_after or "") else "no TwiML")
    heard = t.prompts[-1].kind if t and t.prompts else "?"
    said = f"{t.outcome}/{t.reason}" if t else f"no record ({call.record_error})"
    return f"{said}, last prompt {heard}, then {after}, bot audio " \
           f"{call.sim.summary()['bot_audio_s']:.0f} s"


def next_call(h: Harness, row: Row) -> None:
    if h.died():
        row.next_call = f"service died ({h.died()}); restarted"
        h.start()
    call = h.call(NORMAL)
    t = None if isinstance(call, str) else call.transcript
    ok = t is not None and (t.outcome, t.reason) == ("hangup", "completed")
    row.next_call = ("worked" if ok else f"FAILED: {outcome(call)}") + (
        f" ({row.next_call})" if row.next_call else "")


def gap_after_turn(h: Harness, call: StandinResult | str, turn: int) -> float | None:
    """Wall seconds from the end of the caller's turn `turn` to the bot's next audio."""
    if isinstance(call, str) or len(call.sim.turn_log) <= turn:
        return None
    log = call.sim.turn_log[turn]
    end = log.t_last_voiced if log.t_last_voiced is not None else log.t_end
    later = [t for t in call.sim.prompt_times if end is not None and t >= end]
    return round((later[0] - end) / h.speed, 1) if later else None
