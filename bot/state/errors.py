"""The state store's error, apart from the store so that a command can catch it without importing SQLite."""

from __future__ import annotations


class StateStoreError(RuntimeError):
    """The store file cannot be used (not a database, written by a newer version); str() names the file."""
