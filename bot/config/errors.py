"""Configuration errors: each carries one line a user can act on."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad setting, account file or credential; str() is the one-line message."""
