"""Errors meant for people: the CLI prints them as one clear line, never as a traceback."""

from __future__ import annotations


class VoicebotError(Exception):
    """Base for every error a user can cause and fix (bad file, bad setting, bad input)."""

    exit_code = 2


class SettingsError(VoicebotError):
    """A setting from the environment is missing or invalid."""
