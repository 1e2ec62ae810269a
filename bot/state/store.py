"""The SQLite state store: orders, fills, positions, signals, copy events, account states and health.

One connection in WAL mode shared by every thread behind a re-entrant lock: a transaction holds
the lock from BEGIN to COMMIT, so a thread's several writes (a fill and its position) land
together and no other thread sees half of them. Nested ``transaction()`` blocks are savepoints.
Other processes (``python bot.py status``) read the same file concurrently thanks to WAL.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from bot.clock import Clock, SystemClock
from bot.state.records import (
    AccountStateRecord,
    CopyEventRecord,
    FillRecord,
    HealthRecord,
    MasterHeartbeat,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    SignalStatus,
)
from bot.state.schema import (
    ACCOUNT_STATES,
    COPY_EVENTS,
    DDL,
    FILLS,
    HEALTH,
    HEARTBEATS,
    ORDERS,
    POSITIONS,
    SCHEMA_VERSION,
    SIGNALS,
    Table,
)

if TYPE_CHECKING:  # only a type here: importing the brokers layer would load pandas for `status` and --help
    from bot.brokers.base import OrderResult

DEFAULT_FILE_NAME = "nija.sqlite3"
_BUSY_TIMEOUT_SECONDS = 10.0  # another process (status, a second bot by mistake) holding the write lock

R = TypeVar("R")


class StateStoreError(RuntimeError):
    """The store file cannot be used (not a database, written by a newer version); str() names the file."""


def _encode(table: Table, record: object) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in fields(record)}  # type: ignore[arg-type]
    for name in table.enums:
        row[name] = str(row[name])
    for name in table.booleans:
        row[name] = int(bool(row[name]))
    for name in table.json_columns:
        row[name] = None if row[name] is None else json.dumps(row[name], sort_keys=True)
    return row


def _decode(table: Table, row: sqlite3.Row) -> Any:
    values = dict(row)
    for name, enum in table.enums.items():
        values[name] = enum(values[name])
    for name in table.booleans:
        values[name] = bool(values[name])
    for name in table.json_columns:
        values[name] = None if values[name] is None else json.loads(values[name])
    return table.record(**values)


class StateStore:
    """Everything NIJA must remember across a restart, for every account of every brokerage."""

    def __init__(self, path: Path | str, *, clock: Clock | None = None, read_only: bool = False) -> None:
        """Open (or create) the store; ``read_only`` is for viewers such as `status`, which never write."""
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._depth = 0
        try:
            if read_only:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_SECONDS, check_same_thread=False,
                                             isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS, check_same_thread=False,
                                             isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StateStoreError(f"{self.path}: cannot open the state store ({error})") from error
        self._conn.row_factory = sqlite3.Row
        try:
            self._check_version()
            if not read_only:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(DDL)
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise StateStoreError(f"{self.path}: not a usable NIJA state store ({error})") from error
        except StateStoreError:
            self._conn.close()
            raise

    def _check_version(self) -> None:
        """Refuse, before writing anything, a file that is another program's database or a newer NIJA's."""
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return  # a new store
        if "meta" not in tables:
            raise StateStoreError(f"{self.path}: an SQLite database that is not a NIJA state store")
        row = self._conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        version = int(row[0]) if row is not None else 0
        if version > SCHEMA_VERSION:
            raise StateStoreError(
                f"{self.path}: written by a newer NIJA (schema {version}); this version reads schema {SCHEMA_VERSION}"
            )

    # ---- life cycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside land together or not at all; nested blocks roll back on their own."""
        with self._lock:
            savepoint = f"nested_{self._depth}"
            self._conn.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                self._conn.execute("ROLLBACK" if self._depth == 0 else f"ROLLBACK TO {savepoint}")
                if self._depth:
                    self._conn.execute(f"RELEASE {savepoint}")
                raise
            self._depth -= 1
            self._conn.execute("COMMIT" if self._depth == 0 else f"RELEASE {savepoint}")

    # ---- generic rows --------------------------------------------------------------------------------
    def _upsert(self, table: Table, record: R) -> R:
        row = _encode(table, record)
        columns = ", ".join(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in table.key)
        with self._lock:
            self._conn.execute(
                f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join(':' + c for c in row)}) "
                f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}",
                row,
            )
        return record

    def _insert_if_absent(self, table: Table, record: object) -> bool:
        """True when inserted; False when its key exists. Any other constraint broken is an error, never hidden."""
        row = _encode(table, record)
        with self._lock:
            cursor = self._conn.execute(
                f"INSERT INTO {table.name} ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)}) "
                f"ON CONFLICT ({', '.join(table.key)}) DO NOTHING",
                row,
            )
        return cursor.rowcount == 1

    def _select(
        self, table: Table, where: Mapping[str, object] | None = None, *, extra: str = "",
        params: Iterable[object] = (), order: str = "rowid",
    ) -> list[Any]:
        conditions = [f"{name} = ?" for name, value in (where or {}).items() if value is not None]
        values: list[object] = [value for value in (where or {}).values() if value is not None]
        if extra:
            conditions.append(extra)
            values.extend(params)
        sql = f"SELECT * FROM {table.name}"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        with self._lock:
            rows = self._conn.execute(f"{sql} ORDER BY {order}", values).fetchall()
        return [_decode(table, row) for row in rows]

    def _one(self, table: Table, where: Mapping[str, object]) -> Any:
        found = self._select(table, where)
        return found[0] if found else None

    def _delete(self, table: Table, where: Mapping[str, object]) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                f"DELETE FROM {table.name} WHERE " + " AND ".join(f"{name} = ?" for name in where),
                list(where.values()),
            )
        return cursor.rowcount > 0

    # ---- orders and fills ----------------------------------------------------------------------------
    def record_order(self, order: OrderRecord) -> OrderRecord:
        """Written before the order is sent, so a crash leaves a trace to look up by client order id."""
        now = self.clock.now()
        with self.transaction():
            existing = self.get_order(order.client_order_id)
            created = existing.created_at if existing is not None else (order.created_at or now)
            return self._upsert(ORDERS, replace(order, created_at=created, updated_at=now))

    def record_order_result(
        self, broker: str, account_id: str, result: OrderResult, *, purpose: str = "", signal_id: str | None = None
    ) -> OrderRecord:
        """What the exchange said about an order; an order never recorded before is recorded now."""
        now = self.clock.now()
        with self.transaction():
            existing = self.get_order(result.client_order_id)
            if existing is None:
                existing = OrderRecord(
                    result.client_order_id, broker, account_id, result.symbol, str(result.side), str(result.status),
                    purpose=purpose, signal_id=signal_id, created_at=now,
                )
            updated = replace(
                existing,
                status=str(result.status),
                exchange_order_id=result.exchange_order_id or existing.exchange_order_id,
                filled_base=float(result.filled_base),
                avg_price=float(result.avg_price),
                fee_quote=float(result.fee_quote),
                reason=result.reason or existing.reason,
                purpose=existing.purpose or purpose,
                signal_id=existing.signal_id or signal_id,
                updated_at=now,
            )
            return self._upsert(ORDERS, updated)

    def get_order(self, client_order_id: str) -> OrderRecord | None:
        return self._one(ORDERS, {"client_order_id": client_order_id})

    def orders(
        self, broker: str | None = None, account_id: str | None = None, *, statuses: Iterable[str] | None = None
    ) -> list[OrderRecord]:
        if statuses is None:
            return self._select(ORDERS, {"broker": broker, "account_id": account_id})
        wanted = [str(s) for s in statuses]
        if not wanted:
            return []
        return self._select(ORDERS, {"broker": broker, "account_id": account_id},
                            extra=f"status IN ({', '.join('?' for _ in wanted)})", params=wanted)

    def record_fill(self, fill: FillRecord) -> bool:
        """False when this fill was recorded before (a settled retry reports it again)."""
        return self._insert_if_absent(FILLS, fill)

    def fills(self, broker: str | None = None, account_id: str | None = None) -> list[FillRecord]:
        return self._select(FILLS, {"broker": broker, "account_id": account_id}, order="time, rowid")

    # ---- positions -----------------------------------------------------------------------------------
    def save_position(self, position: PositionRecord) -> PositionRecord:
        return self._upsert(POSITIONS, position)

    def get_position(self, broker: str, account_id: str, symbol: str) -> PositionRecord | None:
        return self._one(POSITIONS, {"broker": broker, "account_id": account_id, "symbol": symbol})

    def delete_position(self, broker: str, account_id: str, symbol: str) -> bool:
        return self._delete(POSITIONS, {"broker": broker, "account_id": account_id, "symbol": symbol})

    def positions(
        self, broker: str | None = None, account_id: str | None = None, *, copies_only: bool = False
    ) -> list[PositionRecord]:
        where = {"broker": broker, "account_id": account_id, "is_copy": 1 if copies_only else None}
        return self._select(POSITIONS, where, order="opened_at, rowid")

    # ---- signals and copies --------------------------------------------------------------------------
    def record_signal(self, signal: SignalRecord) -> tuple[SignalRecord, bool]:
        """(stored signal, created): one signal per master fill, however often the fill is reported."""
        with self.transaction():
            same_fill = self._one(SIGNALS, {"broker": signal.broker, "master_order_id": signal.master_order_id})
            if same_fill is not None:
                return same_fill, False
            created = self._insert_if_absent(SIGNALS, signal)
            stored = self.get_signal(signal.signal_id)
        assert stored is not None
        return stored, created

    def get_signal(self, signal_id: str) -> SignalRecord | None:
        return self._one(SIGNALS, {"signal_id": signal_id})

    def signals(
        self, broker: str | None = None, *, symbol: str | None = None, side: str | None = None,
        since: float | None = None,
    ) -> list[SignalRecord]:
        where = {"broker": broker, "symbol": symbol, "side": side}
        if since is None:
            return self._select(SIGNALS, where, order="time, rowid")
        return self._select(SIGNALS, where, extra="time >= ?", params=[since], order="time, rowid")

    def pending_signals(self, broker: str | None = None) -> list[SignalRecord]:
        return self._select(SIGNALS, {"broker": broker, "status": str(SignalStatus.PENDING)}, order="time, rowid")

    def complete_signal(self, signal_id: str, summary: Mapping[str, object]) -> None:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE signals SET status = ?, summary = ?, completed_at = ? WHERE signal_id = ?",
                (str(SignalStatus.DONE), json.dumps(summary, sort_keys=True), self.clock.now(), signal_id),
            )
        if cursor.rowcount != 1:
            raise KeyError(f"no signal {signal_id} in {self.path}")

    def plan_copy(self, event: CopyEventRecord) -> tuple[CopyEventRecord, bool]:
        """(stored copy, created): the first plan of a follower's copy wins; a second is never made."""
        with self.transaction():
            created = self._insert_if_absent(COPY_EVENTS, replace(event, updated_at=self.clock.now()))
            stored = self.get_copy(event.signal_id, event.follower_id)
        assert stored is not None
        return stored, created

    def save_copy(self, event: CopyEventRecord) -> CopyEventRecord:
        return self._upsert(COPY_EVENTS, replace(event, updated_at=self.clock.now()))

    def get_copy(self, signal_id: str, follower_id: str) -> CopyEventRecord | None:
        return self._one(COPY_EVENTS, {"signal_id": signal_id, "follower_id": follower_id})

    def copy_events(
        self, *, signal_id: str | None = None, broker: str | None = None, follower_id: str | None = None
    ) -> list[CopyEventRecord]:
        return self._select(COPY_EVENTS, {"signal_id": signal_id, "broker": broker, "follower_id": follower_id})

    def beat_master(self, broker: str, account_id: str = "master", *, at: float | None = None) -> MasterHeartbeat:
        """The master of this brokerage is alive now (or at ``at``); followers' guards read it."""
        beat = MasterHeartbeat(broker, account_id, self.clock.now() if at is None else at)
        return self._upsert(HEARTBEATS, beat)

    def master_heartbeat(self, broker: str) -> MasterHeartbeat | None:
        return self._one(HEARTBEATS, {"broker": broker})

    # ---- account states and health -------------------------------------------------------------------
    def save_account_state(self, state: AccountStateRecord) -> AccountStateRecord:
        return self._upsert(ACCOUNT_STATES, replace(state, updated_at=self.clock.now()))

    def get_account_state(self, broker: str, account_id: str) -> AccountStateRecord | None:
        return self._one(ACCOUNT_STATES, {"broker": broker, "account_id": account_id})

    def account_states(self) -> list[AccountStateRecord]:
        return self._select(ACCOUNT_STATES)

    def save_health(self, health: HealthRecord) -> HealthRecord:
        return self._upsert(HEALTH, health)

    def get_health(self, broker: str, account_id: str) -> HealthRecord | None:
        return self._one(HEALTH, {"broker": broker, "account_id": account_id})

    def health_records(self) -> list[HealthRecord]:
        return self._select(HEALTH)
