import subprocess
import sys


def test_help_lists_the_command():
    out = subprocess.run([sys.executable, "-m", "voicebot", "--help"],
                         capture_output=True, text=True, check=True)
    assert "voicebot" in out.stdout
