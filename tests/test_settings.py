from pathlib import Path

import pytest

from voicebot.cli import main
from voicebot.commands.settings import markdown_table
from voicebot.errors import SettingsError
from voicebot.settings import Settings


def test_defaults_need_no_environment():
    s = Settings.from_env({})
    assert s.engine == "auto"
    assert s.flow_path.name == "support.yaml"
    assert s.endpoint.speech_end_ms == 400
    assert s.endpoint.complete_end_ms == 250


def test_values_are_read_and_converted():
    s = Settings.from_env({
        "VOICEBOT_PUBLIC_URL": "https://bot.example.com/",
        "VOICEBOT_ENGINE": "pocketsphinx",
        "VOICEBOT_VAD_AGGRESSIVENESS": "3",
        "VOICEBOT_QUEUES": "support, billing",
        "VOICEBOT_DB": "/tmp/x.sqlite3",
        "VOICEBOT_DIGITS_SPEECH_END_MS": "1200",
        "VOICEBOT_COMPLETE_END_MS": "0",
        "VOICEBOT_WHISPER_OTHER_SPEEDS": "0",
    })
    assert s.whisper_other_speeds is False
    assert s.public_url == "https://bot.example.com"
    assert s.engine == "pocketsphinx"
    assert s.endpoint.aggressiveness == 3
    assert s.queues == ("support", "billing")
    assert s.db_path == Path("/tmp/x.sqlite3")
    assert s.endpoint.digits_speech_end_ms == 1200
    assert s.endpoint.complete_end_ms == 0  # off: every answer waits SPEECH_END_MS


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as err:
        Settings.from_env({
            "VOICEBOT_ENGINE": "kaldi",
            "VOICEBOT_VAD_AGGRESSIVENESS": "7",
            "VOICEBOT_SPEECH_END_MS": "soon",
            "VOICEBOT_COMPLETE_END_MS": "-5",
            "VOICEBOT_PUBLIC_URL": "bot.example.com",
        })
    text = str(err.value)
    for name in ("VOICEBOT_ENGINE", "VOICEBOT_VAD_AGGRESSIVENESS", "VOICEBOT_SPEECH_END_MS",
                 "VOICEBOT_COMPLETE_END_MS", "VOICEBOT_PUBLIC_URL"):
        assert name in text


def test_serving_without_auth_token_is_refused_unless_insecure_flag(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text("start: x\n")
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_env({"VOICEBOT_FLOW": str(flow)}).require_serving()
    Settings.from_env({"VOICEBOT_FLOW": str(flow),
                       "VOICEBOT_INSECURE_NO_SIGNATURE": "1"}).require_serving()
    Settings.from_env({"VOICEBOT_FLOW": str(flow), "TWILIO_AUTH_TOKEN": "t"}).require_serving()


def test_missing_flow_file_is_a_clear_error(tmp_path):
    s = Settings.from_env({"VOICEBOT_FLOW": str(tmp_path / "nope.yaml"),
                           "TWILIO_AUTH_TOKEN": "t"})
    with pytest.raises(SettingsError, match="no flow file"):
        s.require_serving()


def test_the_readme_settings_table_is_the_one_the_settings_make():
    """The README's table is `voicebot settings --markdown`: rerun it and paste the table
    into the README's Settings section when this fails."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Settings\n", 1)[1]
    start = section.index("| variable |")
    assert section[start:section.index("\n\n", start) + 1] == markdown_table()


def test_voicebot_settings_lists_values_masks_secrets_and_reports_problems(monkeypatch, capsys):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "s3cret-token")
    monkeypatch.setenv("VOICEBOT_SPEECH_END_MS", "600")
    monkeypatch.delenv("VOICEBOT_ENGINE", raising=False)
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "s3cret-token" not in out and "TWILIO_AUTH_TOKEN=(set, hidden)" in out
    assert "VOICEBOT_SPEECH_END_MS=600\n" in out and "VOICEBOT_ENGINE=auto  (default)" in out
    monkeypatch.setenv("VOICEBOT_PORT", "99999")
    monkeypatch.setenv("VOICEBOT_LOG_FORMAT", "xml")
    assert main(["settings"]) == 2
    err = capsys.readouterr().err
    assert "VOICEBOT_PORT=99999" in err and "VOICEBOT_LOG_FORMAT='xml'" in err
    assert main(["settings", "--markdown"]) == 0
    assert capsys.readouterr().out == markdown_table()


@pytest.mark.parametrize(("name", "value", "says"), [
    ("VOICEBOT_PUBLIC_URL", "javascript:alert(1)", "must start with https://"),
    ("VOICEBOT_PUBLIC_URL", "https://bot example.com", "spaces or control characters"),
    ("VOICEBOT_PUBLIC_URL", "https://bot.example.com\x00", "spaces or control characters"),
    ("VOICEBOT_PUBLIC_URL", "https://", "must start with https://"),
    ("VOICEBOT_PUBLIC_URL", "https://bot.example.com:99999", "no valid host"),
    ("VOICEBOT_PUBLIC_URL", "https://bot_example!.com", "no valid host"),
    ("VOICEBOT_PUBLIC_URL", "https://me:pw@bot.example.com", "user name or password"),
    ("VOICEBOT_PUBLIC_URL", "https://bot.example.com/?next=x", "query or fragment"),
    ("VOICEBOT_HOLD_MUSIC_URL", "javascript:play()", "must start with https://"),
    ("VOICEBOT_HOLD_MUSIC_URL", "https://cdn.example.com/hold music.mp3", "spaces"),
    ("VOICEBOT_HOST", "http://0.0.0.0:8080", "not an address to listen on"),
    ("VOICEBOT_HOST", "my host", "not an address to listen on"),
    ("VOICEBOT_HASH_KEY", "   ", "set but blank"),
    ("VOICEBOT_API_TOKEN", "", "set but blank"),
    ("VOICEBOT_STREAM_SECRET", " ", "set but blank"),
    ("VOICEBOT_OVERFLOW", "drop", "enqueue or busy"),
    ("VOICEBOT_MAX_CALLS", "0", "between 1 and 1000"),
])
def test_nonsense_is_refused_with_a_clear_message(name, value, says):
    with pytest.raises(SettingsError) as err:
        Settings.from_env({name: value})
    assert name in str(err.value) and says in str(err.value)


def test_good_urls_and_hosts_are_taken():
    s = Settings.from_env({
        "VOICEBOT_PUBLIC_URL": "https://bot-2.example.com:8443/voicebot/",
        "VOICEBOT_HOLD_MUSIC_URL": "https://cdn.example.com/hold.mp3?v=2",
        "VOICEBOT_HOST": "::", "VOICEBOT_MAX_CALLS": "12",
    })
    assert s.public_url == "https://bot-2.example.com:8443/voicebot"
    assert s.hold_music_url == "https://cdn.example.com/hold.mp3?v=2"
    assert s.host == "::"
    assert (s.max_calls, s.stream_limit, s.overflow) == (12, 22, "enqueue")
