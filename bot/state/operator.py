"""The operator's tables in the state store file: bot runs and their heartbeat, entry controls with who/when,
notification cursors and equity samples (issue 12).

They sit beside the trading tables in the same SQLite file but on their own connection, so the cockpit's
writes (a heartbeat every few seconds, a control now and then) and reads never hold the trading store's
lock. WAL lets both connections work at once; a write waits at most the busy time-out for the other's.

Times: a run's start, heartbeat and stop and a control's time are wall-clock seconds (``status`` compares
them with the real time); equity samples carry the bot clock's time of the balance they record (simulated
time in paper mode, like every trading row).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.clock import age_text, utc_text
from bot.state.instance_lock import pid_alive
from bot.state.sqlite import connect, table_names

ALL = "*"  # broker and account of the control that blocks new entries on every account

#: (broker, account id) -> why new entries must wait now, or None: asked before every new entry, never before an exit
EntryGate = Callable[[str, str], str | None]

DDL = """
CREATE TABLE IF NOT EXISTS bot_runs (
    run_id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, mode TEXT NOT NULL,
    started_at REAL NOT NULL, last_beat REAL NOT NULL, stopped_at REAL, stop_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS bot_runs_by_start ON bot_runs (started_at);

CREATE TABLE IF NOT EXISTS entry_controls (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL,
    address TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (broker, account_id)
);

CREATE TABLE IF NOT EXISTS control_log (
    event_id TEXT PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, address TEXT NOT NULL, action TEXT NOT NULL,
    broker TEXT NOT NULL, account_id TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS control_log_by_time ON control_log (at);

CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS equity_samples (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, time REAL NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
    PRIMARY KEY (broker, account_id, time)
);
"""


class OperatorStoreError(RuntimeError):
    """The file cannot hold the operator's tables; str() names the file."""


@dataclass(frozen=True)
class BotRun:
    """One life of `bot.py run`: who (pid, host), paper or live, since when, last heartbeat, how it ended."""

    run_id: str
    pid: int
    host: str
    mode: str  # paper | live
    started_at: float
    last_beat: float
    stopped_at: float | None = None
    stop_reason: str = ""


@dataclass(frozen=True)
class EntryPause:
    """New entries refused for one account (or for every account when broker and account are ALL)."""

    broker: str
    account_id: str
    reason: str
    actor: str
    address: str
    at: float

    @property
    def everywhere(self) -> bool:
        return self.broker == ALL

    def describe(self) -> str:
        scope = "new entries blocked on every account" if self.everywhere else "new entries paused"
        why = f": {self.reason}" if self.reason else ""
        return f"{scope} by {self.actor} (operator control){why}; exits keep working"


@dataclass(frozen=True)
class ControlEvent:
    event_id: str
    at: float
    actor: str
    address: str
    action: str  # block_entries | unblock_entries | pause_entries | resume_entries
    broker: str
    account_id: str
    reason: str


@dataclass(frozen=True)
class EquitySample:
    broker: str
    account_id: str
    time: float
    equity: float
    cash: float


class OperatorStore:
    """The cockpit's own rows; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        """``read_only`` for viewers (`status`, `bot.py web`): a store without these tables reads as empty."""
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        try:
            self._conn = connect(self.path, read_only=read_only)
            tables = table_names(self._conn)
            if not read_only:
                if "meta" not in tables:
                    raise OperatorStoreError(f"{self.path}: not a NIJA state store (open the StateStore first)")
                self._conn.execute("PRAGMA synchronous=NORMAL")  # as the trading store: WAL, durable across a crash
                self._conn.executescript(DDL)
        except sqlite3.Error as error:
            raise OperatorStoreError(f"{self.path}: cannot open the operator tables ({error})") from error

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> OperatorStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- plumbing --------------------------------------------------------------------------------
    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as error:
                if self.read_only and "no such table" in str(error):
                    return []  # a store written before the cockpit existed
                raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise OperatorStoreError(f"{self.path}: opened read-only")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ---- runs and heartbeat ----------------------------------------------------------------------
    def start_run(self, pid: int, host: str, mode: str, at: float) -> BotRun:
        run = BotRun(uuid.uuid4().hex, pid, host, mode, at, at)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO bot_runs (run_id, pid, host, mode, started_at, last_beat) VALUES (?, ?, ?, ?, ?, ?)",
                (run.run_id, run.pid, run.host, run.mode, run.started_at, run.last_beat),
            )
        return run

    def beat(self, run_id: str, at: float) -> None:
        with self._write() as conn:
            conn.execute("UPDATE bot_runs SET last_beat = ? WHERE run_id = ?", (at, run_id))

    def stop_run(self, run_id: str, at: float, reason: str = "stopped") -> None:
        with self._write() as conn:
            conn.execute("UPDATE bot_runs SET last_beat = ?, stopped_at = ?, stop_reason = ? WHERE run_id = ?",
                         (at, at, reason, run_id))

    def last_run(self) -> BotRun | None:
        rows = self._rows("SELECT * FROM bot_runs ORDER BY started_at DESC, run_id LIMIT 1")
        return BotRun(**dict(rows[0])) if rows else None

    def runs(self, limit: int = 20) -> list[BotRun]:
        return [BotRun(**dict(r)) for r in self._rows(
            "SELECT * FROM bot_runs ORDER BY started_at DESC, run_id LIMIT ?", (limit,))]

    # ---- entry controls --------------------------------------------------------------------------
    def entry_pause(self, broker: str, account_id: str) -> EntryPause | None:
        """Why new entries are refused for this account now (every-account block first), or None."""
        rows = self._rows(
            "SELECT * FROM entry_controls WHERE (broker = ? AND account_id = ?) OR (broker = ? AND account_id = ?) "
            "ORDER BY CASE WHEN broker = ? THEN 0 ELSE 1 END",
            (ALL, ALL, broker, account_id, ALL),
        )
        return EntryPause(**dict(rows[0])) if rows else None

    def entry_gate(self, broker: str, account_id: str) -> str | None:
        """The EntryGate the trading code asks before a new entry: why it must wait, or None."""
        pause = self.entry_pause(broker, account_id)
        return pause.describe() if pause is not None else None

    def entry_pauses(self) -> list[EntryPause]:
        return [EntryPause(**dict(r)) for r in self._rows("SELECT * FROM entry_controls ORDER BY at, broker")]

    def set_entry_pause(
        self, broker: str, account_id: str, paused: bool, *, actor: str, address: str, reason: str, at: float
    ) -> ControlEvent:
        """Pause (or resume) new entries of one account, or of all with ALL; logged with who, from where, when."""
        everywhere = broker == ALL
        action = ("block_entries" if paused else "unblock_entries") if everywhere else (
            "pause_entries" if paused else "resume_entries")
        event = ControlEvent(uuid.uuid4().hex, at, actor, address, action, broker, account_id, reason)
        with self._write() as conn:
            if paused:
                conn.execute(
                    "INSERT INTO entry_controls (broker, account_id, reason, actor, address, at) "
                    "VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (broker, account_id) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, "
                    "address = excluded.address, at = excluded.at",
                    (broker, account_id, reason, actor, address, at),
                )
            else:
                conn.execute("DELETE FROM entry_controls WHERE broker = ? AND account_id = ?", (broker, account_id))
            conn.execute(
                "INSERT INTO control_log (event_id, at, actor, address, action, broker, account_id, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (event.event_id, event.at, event.actor, event.address, event.action, event.broker, event.account_id,
                 event.reason),
            )
        return event

    def control_log(self, limit: int = 100) -> list[ControlEvent]:
        return [ControlEvent(**dict(r)) for r in self._rows(
            "SELECT * FROM control_log ORDER BY at DESC, event_id LIMIT ?", (limit,))]

    # ---- notification cursors --------------------------------------------------------------------
    def cursor(self, name: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT value FROM cursors WHERE name = ?", (name,))
        return json.loads(rows[0][0]) if rows else None

    def save_cursor(self, name: str, value: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO cursors (name, value) VALUES (?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, json.dumps(value)))

    # ---- equity samples --------------------------------------------------------------------------
    def add_equity_samples(self, samples: list[EquitySample]) -> None:
        if not samples:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO equity_samples (broker, account_id, time, equity, cash) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (broker, account_id, time) DO NOTHING",
                [(s.broker, s.account_id, s.time, s.equity, s.cash) for s in samples],
            )

    def last_equity_times(self) -> dict[tuple[str, str], float]:
        return {(r[0], r[1]): float(r[2]) for r in self._rows(
            "SELECT broker, account_id, MAX(time) FROM equity_samples GROUP BY broker, account_id")}

    def equity_samples(
        self, broker: str, account_id: str, since: float | None = None, *, most: int | None = None,
    ) -> list[EquitySample]:
        """The account's samples in time order; with ``most``, at most that many, evenly thinned (the last sample
        of each of ``most`` equal stretches of time, the latest one always among them).

        Why thin in SQL: a sample every 300 s of bot time is 105,000 a year per account, and paper mode's
        clock runs hundreds of times faster, so it samples at every round of the cockpit (tens of thousands a
        day per account); an account page must not read and draw them all.
        """
        start = since if since is not None else float("-inf")
        where = "broker = ? AND account_id = ? AND time >= ?"
        if most is not None:
            span = self._rows(
                f"SELECT COUNT(*), MIN(time), MAX(time) FROM equity_samples WHERE {where}", (broker, account_id, start))
            count, first, last = span[0] if span else (0, None, None)
            if count > most and last > first:
                width = (last - first) / (most - 1)  # stretch indexes 0..most-1: the latest sample starts the last
                rows = self._rows(
                    f"SELECT * FROM equity_samples WHERE {where} AND time IN (SELECT MAX(time) FROM equity_samples "
                    f"WHERE {where} GROUP BY CAST((time - ?) / ? AS INTEGER)) ORDER BY time",
                    (broker, account_id, start, broker, account_id, start, first, width),
                )
                return [EquitySample(**dict(r)) for r in rows]
        rows = self._rows(f"SELECT * FROM equity_samples WHERE {where} ORDER BY time", (broker, account_id, start))
        return [EquitySample(**dict(r)) for r in rows]

    def equity_at(self, broker: str, account_id: str, since: float | None = None) -> EquitySample | None:
        """The account's first sample at or after ``since`` (its very first without), by the primary key."""
        rows = self._rows("SELECT * FROM equity_samples WHERE broker = ? AND account_id = ? AND time >= ? "
                          "ORDER BY time LIMIT 1", (broker, account_id, since if since is not None else float("-inf")))
        return EquitySample(**dict(rows[0])) if rows else None

    def latest_equity(self, broker: str, account_id: str) -> EquitySample | None:
        rows = self._rows("SELECT * FROM equity_samples WHERE broker = ? AND account_id = ? ORDER BY time DESC "
                          "LIMIT 1", (broker, account_id))
        return EquitySample(**dict(rows[0])) if rows else None

    def first_equity(self) -> dict[tuple[str, str], EquitySample]:
        """Each account's earliest sample: where its total P&L and its return start."""
        rows = self._rows(
            "SELECT s.* FROM equity_samples s JOIN (SELECT broker, account_id, MIN(time) AS t FROM equity_samples "
            "GROUP BY broker, account_id) f ON s.broker = f.broker AND s.account_id = f.account_id AND s.time = f.t"
        )
        return {(r["broker"], r["account_id"]): EquitySample(**dict(r)) for r in rows}


@dataclass(frozen=True)
class RunStatus:
    """Whether the bot that writes this store is running now, in one line for people."""

    running: bool
    text: str
    run: BotRun | None
    heartbeat_age: float | None  # real seconds since its last heartbeat


def run_status(
    run: BotRun | None, now: float, heartbeat_seconds: float, *, pid_alive: bool | None = None,
    lock_held: bool | None = None,
) -> RunStatus:
    """Whether the bot runs, from the state directory's lock when known (the OS holds it exactly as long as
    the process lives), else from the last run: not stopped, heartbeat fresh (3 beats, at least 15 s) and,
    on this host, its pid alive."""
    if run is None:
        if lock_held:
            return RunStatus(True, "RUNNING (its lock is held; it has not written its first heartbeat yet)", None, None)
        return RunStatus(False, "never started with this store", None, None)
    age = max(now - run.last_beat, 0.0)
    since = utc_text(run.started_at)
    if lock_held is not False and run.stopped_at is None:
        fresh = age <= max(3 * heartbeat_seconds, 15.0)
        if lock_held or (fresh and pid_alive is not False):
            quiet = "" if fresh else "; NO HEARTBEAT for that long: it may be stuck"
            return RunStatus(True, f"RUNNING since {since} (pid {run.pid} on {run.host}, {run.mode} mode); "
                                   f"heartbeat {age_text(age)}{quiet}", run, age)
    if run.stopped_at is not None and lock_held:
        return RunStatus(True, f"RUNNING: starting (its lock is held; the last run stopped at "
                               f"{utc_text(run.stopped_at)})", run, age)
    if run.stopped_at is not None:
        ended = f"{utc_text(run.stopped_at)} ({age_text(now - run.stopped_at)}; {run.stop_reason})"
        return RunStatus(False, f"STOPPED at {ended}; it ran since {since}", run, age)
    how = "its process is gone" if pid_alive is False or lock_held is False else "no heartbeat since"
    seen = f"{utc_text(run.last_beat)} ({age_text(age)}; {how}; it did not stop cleanly: killed or crashed)"
    return RunStatus(False, f"STOPPED: last seen at {seen}; it ran since {since} (pid {run.pid} on {run.host})",
                     run, age)


def process_alive(run: BotRun) -> bool | None:
    """Whether the run's process still exists; None when it ran on another host (we cannot tell)."""
    return pid_alive(run.pid, run.host)
