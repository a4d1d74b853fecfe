"""Speech out: real pyttsx3/espeak-ng renders, the disk cache and concurrent callers."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import pytest

from tests.speech.io_fixtures import line_noise, run_endpointer
from voicebot.errors import VoicebotError
from voicebot.speech.audio import ulaw_to_pcm16
from voicebot.speech.endpoint import Endpointer
from voicebot.speech.tts import PromptRenderer, TtsError, cache_key, ulaw_duration

DISCLOSURE = "You are talking to an automated assistant. Say agent at any time to reach a person."


def cache_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tts-cache")


@pytest.fixture(scope="module")
def renderer(cache_dir: Path):
    with PromptRenderer(cache_dir, voice="en-us", rate=170) as r:
        yield r


def test_render_gives_8k_mulaw_speech(renderer: PromptRenderer) -> None:
    audio = renderer.render(DISCLOSURE)
    assert 2.0 < ulaw_duration(audio) < 12.0
    # It is speech: our own endpointer, fed it as a caller's line would carry it, hears it.
    pcm = line_noise(0.5) + ulaw_to_pcm16(audio) + line_noise(1.0)
    events, _ = run_endpointer(Endpointer(), pcm)
    assert [e.kind for e in events][:1] == ["speech_start"]
    assert events[0].t < 1.0


def test_second_render_comes_from_the_cache(renderer: PromptRenderer, cache_dir: Path) -> None:
    first = renderer.render("Please say your order number.")
    renders, hits, files = renderer.renders, renderer.cache_hits, cache_files(cache_dir)
    again = renderer.render("Please say your order number.")
    assert again == first
    assert renderer.renders == renders
    assert renderer.cache_hits == hits + 1
    assert cache_files(cache_dir) == files
    assert renderer.is_cached("Please say your order number.")
    # Whitespace differences are the same prompt.
    assert renderer.render("  Please say your  order number. ") == first
    assert renderer.is_cached("Please say your\norder number.")


def test_cache_survives_a_restart(renderer: PromptRenderer, cache_dir: Path) -> None:
    audio = renderer.render("Thank you for calling.")
    with PromptRenderer(cache_dir, voice="en-us", rate=170) as fresh:
        assert fresh.render("Thank you for calling.") == audio
        assert fresh.renders == 0 and fresh.cache_hits == 1


def test_voice_and_rate_are_part_of_the_key(cache_dir: Path) -> None:
    text = "One moment please."
    keys = {cache_key(text, v, r) for v in (None, "en-us", "en-gb") for r in (None, 120, 200)}
    assert len(keys) == 9
    assert cache_key(text, "en-us", 120) != cache_key(text + "!", "en-us", 120)
    with PromptRenderer(cache_dir, voice="en-gb", rate=120) as slow, \
            PromptRenderer(cache_dir, voice="en-gb", rate=240) as fast:
        slow_audio, fast_audio = slow.render(text), fast.render(text)
        assert slow.path_for(text) != fast.path_for(text)
        assert slow.renders == 1 and fast.renders == 1
    assert ulaw_duration(slow_audio) > 1.4 * ulaw_duration(fast_audio)


def test_concurrent_renders_of_one_text_share_one_render(renderer: PromptRenderer) -> None:
    text = "Your parcel will arrive on Tuesday."
    before = renderer.renders
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        results.append(renderer.render(text))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 8 and len(set(results)) == 1 and results[0]
    assert renderer.renders == before + 1


def test_many_threads_many_texts(renderer: PromptRenderer, cache_dir: Path) -> None:
    texts = [f"Your ticket number is {n}." for n in range(12)]
    out: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def call(text: str) -> None:
        try:
            out[text] = renderer.render(text)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(t,)) for t in texts * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert all(out[t] == renderer.path_for(t).read_bytes() for t in texts)
    assert not [n for n in cache_files(cache_dir) if not n.endswith(".ulaw")]  # no temp files


def test_prewarm_renders_only_what_is_missing(cache_dir: Path) -> None:
    with PromptRenderer(cache_dir, rate=150) as r:
        prompts = ["Welcome to support.", "Goodbye.", "Welcome to support.", "Sorry?"]
        assert r.prewarm(prompts) == 3
        assert r.prewarm(prompts) == 0
        assert all(r.is_cached(p) for p in prompts)


def test_empty_prompt_is_silence(renderer: PromptRenderer) -> None:
    assert renderer.render("   ") == b""


def test_worker_crash_is_survived(cache_dir: Path) -> None:
    with PromptRenderer(cache_dir, rate=210) as r:
        r.render("First prompt.")
        os.kill(r.worker_pids[0], signal.SIGKILL)  # the espeak worker dies (fault injection)
        assert ulaw_duration(r.render("Second prompt.")) > 0.3
        assert r.renders == 2


@pytest.mark.parametrize(("voice", "rate", "message"), [
    ("no-such-voice", None, "unknown voice 'no-such-voice'"),
    ("en-us+zz9", None, "variant"),
    (None, 5, "out of range"),
])
def test_bad_voice_or_rate_fails_at_start_up(
        tmp_path: Path, voice: str | None, rate: int | None, message: str) -> None:
    with pytest.raises(TtsError, match=message) as info:
        PromptRenderer(tmp_path / "c", voice=voice, rate=rate)
    assert isinstance(info.value, VoicebotError)


def test_voice_names_in_several_spellings(tmp_path: Path) -> None:
    for voice in ("en-gb", "English (America)", "gmw/en-us", "en-us+f2"):
        with PromptRenderer(tmp_path, voice=voice) as r:
            assert ulaw_duration(r.render("Hello.")) > 0.2


def test_closed_renderer_refuses(tmp_path: Path) -> None:
    r = PromptRenderer(tmp_path)
    r.close()
    with pytest.raises(TtsError, match="closed"):
        r.render("Hello there.")


def test_unwritable_cache_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TtsError, match="cannot create the prompt cache"):
        PromptRenderer(blocker / "cache")


def test_missing_espeak_is_a_clear_error_at_start_up(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without espeak-ng: pyttsx3 cannot load the library (simulated by a pyttsx3
    that fails the way it does there, first on the worker's import path)."""
    fake = tmp_path / "fake" / "pyttsx3"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "def init(*args, **kwargs):\n"
        "    raise OSError('libespeak-ng.so.1: cannot open shared object file')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    with pytest.raises(TtsError, match=r"cannot start espeak-ng.*apt-get install espeak-ng"):
        PromptRenderer(tmp_path / "cache")


def test_a_render_that_takes_too_long_fails_and_the_worker_is_replaced(tmp_path: Path) -> None:
    with PromptRenderer(tmp_path, render_timeout=0.001) as r:
        (pid,) = r.worker_pids
        with pytest.raises(TtsError, match="took longer"):
            r.render(" ".join(["This prompt is far too long to render in a millisecond."] * 50))
        assert pid not in r.worker_pids  # killed; a fresh one is started for the next render
        assert list(tmp_path.iterdir()) == []  # no cache entry, no temp file


def test_kept_prompts_play_with_the_worker_hung_and_the_cache_gone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    handover = "Sorry, something went wrong on our side. Please hold."
    with PromptRenderer(cache, render_timeout=1.0) as r:
        r.prewarm([handover, DISCLOSURE])
        kept = r.render(handover)
        assert r.kept_bytes >= len(kept) > 0
        (pid,) = r.worker_pids
        os.kill(pid, signal.SIGSTOP)  # the speech worker hangs ...
        shutil.rmtree(cache)  # ... and the prompt cache is gone
        assert r.render(handover) == kept
        assert r.render("  " + DISCLOSURE) == r.render(DISCLOSURE)
        # a prompt never rendered fails at the deadline, and the worker is replaced
        with pytest.raises(TtsError, match="took longer"):
            r.render("Order 7731 is on its way.")
        assert pid not in r.worker_pids
        assert ulaw_duration(r.render("Order 7731 is on its way.")) > 0.5
        assert cache.is_dir()  # made again by that render
        assert r.is_cached("Order 7731 is on its way.")


def test_a_cache_that_cannot_be_written_costs_renders_not_prompts(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with PromptRenderer(cache) as r:
        shutil.rmtree(cache)
        cache.write_text("a file where the cache directory was")
        assert "cannot be made" in (r.cache_problem() or "")
        audio = r.render("Your order has shipped.")
        assert ulaw_duration(audio) > 0.5
        again = r.render("Your order has shipped.")  # rendered again: there is no cache
        assert abs(ulaw_duration(again) - ulaw_duration(audio)) < 0.1
        assert r.renders == 2
