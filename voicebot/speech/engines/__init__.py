"""Offline recognition engines behind one small interface (see voicebot.speech.types)."""
