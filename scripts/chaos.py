"""Chaos: break one part of a real `voicebot serve` at a time and see what the callers get.

    python scripts/chaos.py [--rows NAME,...] [--speed 2] [--service-path DIR] [--list]

Starts the service on loopback (its own var directory; the default flow with its order
lookup sent to a local HTTP service, tests/orders_server.py), then runs each row: a small
function that breaks one part, places a call with the Twilio stand-in, repairs what it broke
and places a normal call. Per row it prints: seconds from the fault to the bot's next audio
(wall clock), the call's outcome and reason and what the caller heard last, whether the
next call worked, what /readyz answered while the part was broken, and notes. A row is a
function `row_x(h: Harness) -> Row` (scripts/chaos_harness.py), listed in ROWS; rows run in
order and share the service (a row that kills it restarts it). --service-path runs the
service from another checkout (e.g. /work/main) to measure what it does, with this
checkout's stand-in.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_harness import (  # noqa: E402
    NORMAL,
    Harness,
    Row,
    gap_after_turn,
    keys,
    menu_one,
    next_call,
    outcome,
)

from voicebot.replay.caller import CallerTurn  # noqa: E402

KILL_FOR_S = 10.0


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
