"""The simulated Twilio + caller: message shapes, playback/marks/clear, turn timing.

Pure and on a virtual clock: a tiny scripted "bot" sends prompts as the real driver does
(media chunks then a mark), and the tests look at what the simulator sends back and when.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from voicebot.replay.caller import ULAW_SILENCE, CallerSimulator, CallerTurn
from voicebot.speech.audio import load_phone_audio
from voicebot.telephony import media_stream as ms

SILENCE_B64 = base64.b64encode(ULAW_SILENCE).decode()


def tone(seconds: float, amplitude: int = 8000) -> bytes:
    n = int(8000 * seconds)
    return (np.sin(np.arange(n) * 2 * np.pi * 300 / 8000) * amplitude).astype("<i2").tobytes()


class Bot:
    """Sends prompts like the driver: 200 ms media chunks then a mark."""

    def __init__(self, sim: CallerSimulator) -> None:
        self.sim = sim
        self.count = 0

    def prompt(self, seconds: float, now: float) -> str:
        self.count += 1
        audio = b"\x7f" * int(8000 * seconds)
        for i in range(0, len(audio), 1600):
            self.sim.on_message(ms.media_message("MZ1", audio[i:i + 1600]), now)
        name = f"p{self.count}"
        self.sim.on_message(ms.mark_message("MZ1", name), now)
        return name


def run(sim: CallerSimulator, until: float, react=None) -> list[tuple[float, dict]]:
    """Poll every 20 ms up to `until`; `react(t, msgs)` plays the bot's part."""
    sent: list[tuple[float, dict]] = []
    t = 0.0
    while t < until - 1e-9:
        t = round(t + 0.02, 2)
        msgs = [json.loads(m) for m in sim.poll(t)]
        sent += [(t, m) for m in msgs]
        if react:
            react(t, msgs)
    return sent


def voiced_times(sent: list[tuple[float, dict]]) -> list[float]:
    return [t for t, m in sent if m["event"] == "media" and m["media"]["payload"] != SILENCE_B64]


def test_opening_is_what_twilio_sends_and_the_service_parser_accepts_it():
    sim = CallerSimulator([], call_sid="CA1", stream_sid="MZ1", account_sid="AC1",
                          custom_parameters={"flow": "support", "from": "+15550100"},
                          from_number="+15550100")
    connected, start = sim.opening()
    assert json.loads(connected) == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    parsed = ms.parse_message(start)
    assert isinstance(parsed, ms.Start)
    assert (parsed.call_sid, parsed.stream_sid, parsed.account_sid) == ("CA1", "MZ1", "AC1")
    assert parsed.custom_parameters == {"flow": "support", "from": "+15550100"}
    raw = json.loads(start)["start"]
    assert raw["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    assert raw["tracks"] == ["inbound"]
    stop = ms.parse_message(sim.closing(1.0)[0])
    assert isinstance(stop, ms.Stop) and stop.call_sid == "CA1"
    assert sim.done


def test_media_frames_every_20ms_with_increasing_numbers():
    sim = CallerSimulator([], stream_sid="MZ1")
    sim.opening()
    sent = run(sim, 1.0)
    media = [m for _, m in sent if m["event"] == "media"]
    assert len(media) == 50
    parsed = [ms.parse_message(json.dumps(m)) for m in media]
    assert [p.timestamp for p in parsed] == [20 * i for i in range(50)]
    assert [p.chunk for p in parsed] == list(range(1, 51))
    seqs = [int(m["sequenceNumber"]) for m in media]
    assert seqs == sorted(seqs) and len(set(seqs)) == 50
    assert all(len(p.payload) == 160 and p.payload == ULAW_SILENCE for p in parsed)


def test_mark_is_echoed_when_the_audio_before_it_has_played():
    sim = CallerSimulator([], stream_sid="MZ1")
    sim.opening()
    bot = Bot(sim)
    bot.prompt(1.0, 0.0)
    bot.prompt(0.5, 0.0)
    sent = run(sim, 2.0)
    marks = [(t, m["mark"]["name"]) for t, m in sent if m["event"] == "mark"]
    assert marks == [(1.0, "p1"), (1.5, "p2")]
    assert sim.audio_gaps == 0


def test_clear_drops_the_audio_and_echoes_pending_marks_at_once():
    sim = CallerSimulator([], stream_sid="MZ1")
    sim.opening()
    bot = Bot(sim)
    bot.prompt(3.0, 0.0)
    bot.prompt(2.0, 0.0)

    def react(t, msgs):
        if t == 0.5:
            sim.on_message(ms.clear_message("MZ1"), t)

    sent = run(sim, 1.0, react)
    marks = [(t, m["mark"]["name"]) for t, m in sent if m["event"] == "mark"]
    assert marks == [(0.52, "p1"), (0.52, "p2")]
    assert sim.clears == 1 and sim.playback_idle


def test_say_turn_starts_after_the_prompt_has_played_and_gap_is_measured():
    speech = tone(1.0)
    sim = CallerSimulator([CallerTurn("say", audio=speech)], stream_sid="MZ1")
    sim.opening()
    bot = Bot(sim)
    bot.prompt(2.0, 0.0)
    replied = []

    def react(t, msgs):
        # the bot answers 0.4 s after the caller's last voiced frame
        log = sim.turn_log[0] if sim.turn_log else None
        if log and log.t_end is not None and not replied and t >= log.t_end + 0.4 - 1e-9:
            replied.append(t)
            bot.prompt(1.0, t)

    sent = run(sim, 5.0, react)
    voiced = voiced_times(sent)
    assert voiced[0] >= 2.0 + 0.3 - 1e-9  # prompt played (2 s) plus the natural pause
    assert len(voiced) == 50  # the whole second of speech, nothing more
    assert sim.turn_gaps_ms == [pytest.approx(400, abs=1)]
    assert sim.turns_performed == 1


def test_caller_waits_for_a_prompt_queued_after_a_mark_came_back():
    """Disclosure, then the menu sent only once the disclosure's mark is back (no gap)."""
    sim = CallerSimulator([CallerTurn("dtmf", digits="2")], stream_sid="MZ1")
    sim.opening()
    bot = Bot(sim)
    bot.prompt(1.0, 0.0)
    menu_sent = []

    def react(t, msgs):
        if any(m["event"] == "mark" for m in msgs) and not menu_sent:
            menu_sent.append(t)
            bot.prompt(2.0, t)

    sent = run(sim, 5.0, react)
    keys = [(t, m["dtmf"]["digit"]) for t, m in sent if m["event"] == "dtmf"]
    assert keys and keys[0][1] == "2"
    assert keys[0][0] >= menu_sent[0] + 2.0  # after the menu, not after the disclosure


def test_barge_in_speaks_over_the_last_queued_prompt():
    sim = CallerSimulator([CallerTurn("say", audio=tone(0.5), barge_in=True)], stream_sid="MZ1")
    sim.opening()
    bot = Bot(sim)
    bot.prompt(2.0, 0.0)  # disclosure
    bot.prompt(3.0, 0.0)  # menu: starts playing at 2.0
    sent = run(sim, 4.0)
    voiced = voiced_times(sent)
    assert voiced[0] == pytest.approx(2.6, abs=0.021)
    assert sim.turn_log[0].barge_in


def test_barge_in_waits_for_a_menu_whose_audio_arrives_late():
    """On a loaded machine the disclosure's audio trickles in and the menu's comes after
    the moment the caller would have barged into the disclosure: the caller still barges
    into the menu, 0.6 s into it."""
    sim = CallerSimulator([CallerTurn("say", audio=tone(0.5), barge_in=True)], stream_sid="MZ1")
    sim.opening()
    chunk = b"\x7f" * 1600  # 200 ms
    menu_at = {}

    def react(t, msgs):
        step = round(t / 0.06)
        if abs(t - step * 0.06) < 1e-9 and 1 <= step <= 10:  # the disclosure, 2 s, by 0.6 s
            sim.on_message(ms.media_message("MZ1", chunk), t)
            if step == 10:
                sim.on_message(ms.mark_message("MZ1", "p1"), t)
        if t == 0.9:  # then the menu, 3 s; it plays after the disclosure
            menu_at["start"] = max(t, sim.line.play_end)
            Bot(sim).prompt(3.0, t)

    sent = run(sim, 4.0, react)
    assert voiced_times(sent)[0] == pytest.approx(menu_at["start"] + 0.6, abs=0.041)


def test_dtmf_then_silence_then_say_in_order():
    turns = [CallerTurn("dtmf", digits="12#"), CallerTurn("silence", seconds=3.0),
             CallerTurn("say", audio=tone(0.4))]
    sim = CallerSimulator(turns, stream_sid="MZ1")
    sim.opening()
    bot = Bot(sim)
    bot.prompt(1.0, 0.0)
    state = {"answered": 0}

    def react(t, msgs):
        # the bot replies with a 1 s prompt to the keys, and reprompts 1 s into the silence
        logs = sim.turn_log
        if len(logs) == 1 and logs[0].t_end is not None and not state["answered"]:
            state["answered"] = 1
            bot.prompt(1.0, t)
        if len(logs) == 2 and t >= logs[1].t_start + 1.0 and state["answered"] == 1:
            state["answered"] = 2
            bot.prompt(1.0, t)

    sent = run(sim, 10.0, react)
    keys = [(t, m["dtmf"]["digit"]) for t, m in sent if m["event"] == "dtmf"]
    assert [k for _, k in keys] == ["1", "2", "#"]
    silence, say = sim.turn_log[1], sim.turn_log[2]
    assert say.kind == "say" and say.t_start >= silence.t_end
    assert silence.t_end - silence.t_start == pytest.approx(3.0, abs=0.021)
    # after the silence, the caller waited for the bot to speak again before talking
    voiced = voiced_times(sent)
    assert voiced and voiced[0] > silence.t_end
    assert sim.turns_performed == 3


def test_audio_gap_is_counted_when_the_buffer_runs_dry_mid_prompt():
    sim = CallerSimulator([], stream_sid="MZ1")
    sim.opening()
    sim.on_message(ms.media_message("MZ1", b"\x7f" * 1600), 0.0)  # 200 ms

    def react(t, msgs):
        if t == 0.5:  # the rest of the prompt arrives 300 ms after the buffer ran dry
            sim.on_message(ms.media_message("MZ1", b"\x7f" * 1600), t)
            sim.on_message(ms.mark_message("MZ1", "p1"), t)
        if t == 1.0:  # a new prompt after the mark: not a gap
            sim.on_message(ms.media_message("MZ1", b"\x7f" * 1600), t)

    run(sim, 1.5, react)
    assert sim.audio_gaps == 1


def test_caller_gives_up_after_the_call_time_cap():
    sim = CallerSimulator([CallerTurn("dtmf", digits="1")], stream_sid="MZ1", max_call_s=2.0)
    sim.opening()
    run(sim, 2.0)
    assert sim.done and sim.timed_out
    assert "1 caller turn(s) not performed" in sim.notes[0]


def test_garbage_from_the_service_is_noted_not_fatal():
    sim = CallerSimulator([], stream_sid="MZ1")
    sim.on_message("not json", 0.0)
    sim.on_message(json.dumps({"event": "media", "media": {"payload": "@@@"}}), 0.0)
    sim.on_message(json.dumps(["a list"]), 0.0)
    assert len(sim.notes) == 2
    assert sim.bot_audio_bytes == 0


def test_real_recording_frames_are_voiced(shared_data):
    """A real digit recording goes out as mu-law frames, its voiced end is found."""
    audio = load_phone_audio(shared_data / "fsdd" / "4_jackson_3.wav")
    sim = CallerSimulator([CallerTurn("say", audio=audio)], stream_sid="MZ1")
    sim.opening()
    Bot(sim).prompt(0.5, 0.0)
    sent = run(sim, 2.0)
    voiced = voiced_times(sent)
    assert len(voiced) == -(-len(audio) // 320)
    log = sim.turn_log[0]
    assert log.t_start <= log.t_last_voiced <= log.t_end


def test_turn_gap_counts_a_reply_during_the_recordings_trailing_silence():
    """Recordings end with silence; the bot may answer before it has all been sent."""
    speech = tone(0.5) + b"\x00\x00" * 8000  # 0.5 s voiced, then 1 s of silence
    sim = CallerSimulator([CallerTurn("say", audio=speech), CallerTurn("dtmf", digits="5")],
                          stream_sid="MZ1")
    sim.opening()
    bot = Bot(sim)
    bot.prompt(0.5, 0.0)
    answered = []

    def react(t, msgs):
        log = sim.turn_log[0] if sim.turn_log else None
        if log and log.t_last_voiced and not answered and t >= log.t_last_voiced + 0.46:
            answered.append(t)
            bot.prompt(1.0, t)

    sent = run(sim, 4.0, react)
    log = sim.turn_log[0]
    assert log.t_end > answered[0]  # the reply came while the silence was still being sent
    assert sim.turn_gaps_ms == [pytest.approx(460, abs=21)]
    # and that reply is what the next turn answers: after it has played, plus the pause
    keys = [t for t, m in sent if m["event"] == "dtmf"]
    assert keys == [pytest.approx(answered[0] + 1.0 + 0.3, abs=0.021)]
