"""Chaos: break one part of a real `voicebot serve` at a time and see what the callers get.

    python scripts/chaos.py [--rows NAME,...] [--speed 2] [--service-path DIR] [--list]

Starts the service on loopback (its own var directory; the default flow with its order
lookup sent to a local HTTP service, tests/orders_server.py), then runs each row: a small
function that breaks one part, places a call with the Twilio stand-in, repairs what it broke
and places a normal call. Per row it prints: seconds from the fault to the bot's next audio
(wall clock), the call's outcome and reason and what the caller heard last, whether the
next call worked, what /readyz answered while the part was broken, and notes. A row is a
function `row_x(h: Harness) -> Row`, listed in ROWS; rows run in order and share the service
(a row that kills it restarts it). --service-path runs the service from another checkout
(e.g. /work/main) to measure what it does, with this checkout's stand-in.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
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
KILL_FOR_S = 10.0


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


# ---------------------------------------------------------------------- the rows


def stopped_workers(h: Harness, label: str, turns: list[CallerTurn], turn: int, node: str,
                    name: str) -> Row:
    """Stop the `label` workers when the call reaches `node` (before the caller answers)."""
    row = Row(name)
    pids = h.workers(label)

    def stop() -> None:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)

    with h.watch() as watch:
        call = h.call_until(turns, node, stop)
    for pid in pids:  # still there: the fix did not replace them
        try:
            os.kill(pid, signal.SIGCONT)
            row.notes.append(f"{label} {pid} was never replaced")
        except ProcessLookupError:
            pass
    row.first_audio_s, row.outcome, row.ready = gap_after_turn(h, call, turn), \
        outcome(call), watch.seen
    row.notes.append(f"{len(pids)} {label} worker(s) stopped")
    next_call(h, row)
    return row


def row_decoders_hung(h: Harness) -> Row:
    return stopped_workers(h, "decoder", [menu_one()], 0, "main_menu",
                           "decoder workers hung (SIGSTOP)")


def row_tts_hung(h: Harness) -> Row:
    # a number never said before: its confirmation prompt must be rendered
    return stopped_workers(h, "speech", [menu_one(), keys(h.unused_number())], 1,
                           "ask_order_number", "TTS worker hung (SIGSTOP)")


def row_decoders_killed(h: Harness) -> Row:
    row = Row(f"decoder workers killed repeatedly for {KILL_FOR_S:g} s")
    box: list = []
    caller = threading.Thread(target=lambda: box.append(h.call([menu_one()])))
    with h.watch() as watch:
        end = time.monotonic() + KILL_FOR_S
        caller.start()
        while time.monotonic() < end:
            for pid in h.workers("decoder"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        healed_at = None
        limit = time.monotonic() + 60
        while time.monotonic() < limit:
            if h.readyz().startswith("200"):
                healed_at = time.monotonic()
                break
            time.sleep(0.25)
        caller.join()
    row.first_audio_s, row.outcome, row.ready = gap_after_turn(h, box[0], 0), \
        outcome(box[0]), watch.seen
    row.notes.append(f"/readyz ready {healed_at - end:.1f} s after the kills stopped"
                     if healed_at else "/readyz not ready 60 s after the kills stopped")
    row.notes.append(f"decoder workers now: {len(h.workers('decoder'))}")
    next_call(h, row)
    return row


def row_tts_cache_removed(h: Harness) -> Row:
    row = Row("TTS cache directory removed")
    shutil.rmtree(h.tts_cache, ignore_errors=True)
    with h.watch() as watch:
        call = h.call([menu_one(), keys(h.unused_number()), keys("1"), keys("2")])
    if not isinstance(call, str) and call.sim.prompt_times:
        row.first_audio_s = round(call.sim.prompt_times[0] / h.speed, 1)
        row.notes.append("first audio counted from the stream start")
    row.outcome, row.ready = outcome(call), watch.seen
    row.notes.append("cache directory made again" if h.tts_cache.is_dir()
                     else "cache directory still missing (the row makes it again)")
    next_call(h, row)
    h.tts_cache.mkdir(parents=True, exist_ok=True)  # repaired, so later rows see no fault
    return row


def row_lookup_trickle(h: Harness) -> Row:
    row = Row("lookup server trickling 1 byte/s (timeout 3 s)")
    h.orders.trickle_s = 1.0
    try:
        with h.watch() as watch:
            call = h.call([menu_one(), keys("4512"), keys("1")])
    finally:
        h.orders.trickle_s = 0.0
    row.first_audio_s, row.outcome, row.ready = gap_after_turn(h, call, 2), outcome(call), \
        watch.seen
    row.notes.append("first audio counted from the key that starts the lookup")
    next_call(h, row)
    return row


def chattr(flag: str, files: list[Path]) -> list[Path]:
    done = [f for f in files if f.exists() and subprocess.run(
        ["chattr", flag, str(f)], capture_output=True).returncode == 0]
    return done


def db_files(h: Harness, suffixes: tuple[str, ...]) -> list[Path]:
    return [Path(str(h.db) + s) for s in suffixes]


def twilio_posts(h: Harness, sid: str) -> str:
    """/agent/whisper and /status as Twilio posts them: their HTTP answers."""
    standin = h.standin()
    whisper = standin.post(h.base + "/agent/whisper", {
        **standin.call_params(sid, "in-progress"), "DequeingCallSid": "CA" + "a" * 32})[0]
    status = standin.post(h.base + "/status", standin.call_params(sid, "completed"))[0]
    return f"/agent/whisper {whisper}, /status {status}"


def stored(h: Harness, sid: str) -> bool:
    try:
        with sqlite3.connect(f"file:{h.db}?mode=ro", uri=True, timeout=2) as conn:
            row = conn.execute("SELECT outcome FROM calls WHERE call_sid=?", (sid,)).fetchone()
        return bool(row and row[0])
    except sqlite3.Error:
        return False


def immutable_db(h: Harness, suffixes: tuple[str, ...], name: str) -> Row:
    row = Row(name)
    locked = chattr("+i", db_files(h, suffixes))
    row.notes.append("chattr +i on " + (", ".join(p.name for p in locked) or "nothing"))
    try:
        with h.watch() as watch:
            call = h.call(NORMAL)
            if not h.died() and not isinstance(call, str):
                row.notes.append(twilio_posts(h, call.call_sid))
    finally:
        chattr("-i", locked)
    row.outcome, row.ready = outcome(call), watch.seen
    if h.died():
        row.notes.append(f"the service died: {h.died()}")
    elif not isinstance(call, str):
        time.sleep(8)  # writes are retried with backoff (at most 5 s apart)
        row.notes.append("record in the database once writable: "
                         + ("yes" if stored(h, call.call_sid) else "no"))
    next_call(h, row)
    return row


def row_db_immutable_all(h: Harness) -> Row:
    return immutable_db(h, ("", "-wal", "-shm"), "database files immutable (.db, -wal, -shm)")


def row_db_immutable_db_wal(h: Harness) -> Row:
    return immutable_db(h, ("", "-wal"), "database files immutable (.db and -wal)")


def row_db_deleted(h: Harness) -> Row:
    row = Row("database files deleted mid-run")
    quick = [keys("0")]
    sids = []
    first = h.call(quick)
    sids += [] if isinstance(first, str) else [first.call_sid]
    for f in db_files(h, ("", "-wal", "-shm")):
        f.unlink(missing_ok=True)
    with h.watch() as watch:
        calls = [h.call(quick) for _ in range(3)]
    sids += [c.call_sid for c in calls if not isinstance(c, str)]
    row.outcome, row.ready = outcome(calls[-1]), watch.seen
    h.stop()
    h.start()
    kept = sum(h.get(f"/calls/{sid}")[0] == 200 for sid in sids)
    row.notes.append(f"records after a restart: {kept} of {len(sids)} (1 call before the "
                     "deletion, 3 after)")
    next_call(h, row)
    return row


ROWS: list[Callable[[Harness], Row]] = [
    row_decoders_hung, row_tts_hung, row_decoders_killed, row_tts_cache_removed,
    row_lookup_trickle, row_db_immutable_db_wal, row_db_deleted, row_db_immutable_all,
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", help="comma-separated row names (row_x without 'row_')")
    ap.add_argument("--speed", type=float, default=2.0, help="stand-in speed (default 2)")
    ap.add_argument("--service-path", help="run the service from this checkout")
    ap.add_argument("--list", action="store_true", help="list the rows and exit")
    args = ap.parse_args()
    names = {fn.__name__.removeprefix("row_"): fn for fn in ROWS}
    if args.list:
        print("\n".join(names))
        return 0
    chosen = [names[n.strip()] for n in args.rows.split(",")] if args.rows else ROWS
    h = Harness(args)
    h.start()
    results = []
    try:
        for fn in chosen:
            started = time.monotonic()
            print(f"... {fn.__name__}", file=sys.stderr, flush=True)
            row = fn(h)
            row.notes.append(f"row took {time.monotonic() - started:.0f} s")
            results.append(row)
            if h.died():
                h.start()
    finally:
        h.stop()
        h.orders.close()
    print_table(results, h)
    return 0


def print_table(rows: list[Row], h: Harness) -> None:
    print("| fault | bot's next audio after the fault (s) | what the caller got | next call "
          "| /readyz while broken | notes |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        first = "-" if r.first_audio_s is None else f"{r.first_audio_s:.1f}"
        ready = " → ".join(dict.fromkeys(r.ready)) or "-"
        print(f"| {r.name} | {first} | {r.outcome} | {r.next_call} | {ready} | "
              f"{'; '.join(r.notes)} |")
    print(f"\nservice log: {h.log_path}; stand-in speed {h.speed:g}x (times are wall clock)")


if __name__ == "__main__":
    raise SystemExit(main())
