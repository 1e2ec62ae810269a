"""Opening the store's SQLite file: the trading store's connection and the cockpit's (read model, operator)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 10.0  # a writer in another connection (`status`, a second bot) holds the lock at most this long


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """One connection usable from any thread behind the caller's lock; read-only ones can never write."""
    if read_only:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS,
                               check_same_thread=False, isolation_level=None)
    else:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
