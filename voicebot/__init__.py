"""voicebot: an offline voicebot for company phone support lines."""

__version__ = "0.1.0"
