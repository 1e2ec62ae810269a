"""The SQLite state store: orders, fills, positions, trades, signals, copies, account states and health.

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
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from bot.clock import Clock, SystemClock
from bot.state.errors import StateStoreError  # defined apart so that bot.cli catches it without SQLite
from bot.state.migrations import MigrationError, migrate
from bot.state.private import private_file
from bot.state.records import (
    UNSETTLED,
    AccountStateRecord,
    CopyRecord,
    CopyStatus,
    FillRecord,
    HealthRecord,
    MasterHeartbeat,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    SignalStatus,
    TradeRecord,
)
from bot.state.schema import (
    ACCOUNT_STATES,
    COPIES,
    DDL,
    FILLS,
    HEALTH,
    HEARTBEATS,
    ORDERS,
    POSITIONS,
    SCHEMA_VERSION,
    SIGNALS,
    TRADES,
    Table,
)
from bot.state.sqlite import connect

DEFAULT_FILE_NAME = "nija.sqlite3"

R = TypeVar("R")
# What the exchange said about an order: the columns a settle writes, only while the order is unsettled.
_SETTLED_COLUMNS = ("status", "exchange_order_id", "filled_base", "filled_quote", "avg_price", "fee_quote", "fee_base",
                    "reason", "updated_at", "next_check_at", "checks")
_SETTLE_SQL = (f"UPDATE orders SET {', '.join(f'{c} = ?' for c in _SETTLED_COLUMNS)} WHERE client_order_id = ? "
               f"AND status IN ({', '.join('?' for _ in UNSETTLED)})")


class StateStore:
    """Everything NIJA must remember across a restart, for every account of every brokerage."""

    def __init__(self, path: Path | str, *, clock: Clock | None = None, read_only: bool = False) -> None:
        """Open (or create) the store; ``read_only`` is for viewers such as `status`, which never write.

        A store written by an older version is migrated (in one transaction) before anything else.
        """
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._depth = 0
        try:
            if not read_only:
                private_file(self.path)  # 0600 in a 0700 directory; SQLite gives -wal/-shm the same mode
            self._conn = connect(self.path, read_only=read_only)
        except (OSError, sqlite3.Error) as error:
            raise StateStoreError(f"{self.path}: cannot open the state store ({error})") from error
        try:
            version = self._check_version()
            if version is not None and version < SCHEMA_VERSION:
                if read_only:
                    raise StateStoreError(
                        f"{self.path}: written by an older NIJA (schema {version}); start the bot once "
                        f"(python bot.py) to upgrade it to schema {SCHEMA_VERSION}"
                    )
                try:
                    migrate(self._conn, version, SCHEMA_VERSION)
                except MigrationError as error:
                    raise StateStoreError(
                        f"{self.path}: cannot upgrade schema {version} to {SCHEMA_VERSION}, the file is unchanged: "
                        f"{error}"
                    ) from error
            if not read_only:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                for statement in DDL:
                    self._conn.execute(statement)
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise StateStoreError(f"{self.path}: not a usable NIJA state store ({error})") from error
        except StateStoreError:
            self._conn.close()
            raise

    def _check_version(self) -> int | None:
        """The store's schema version (None: a new store); refuse another program's database or a newer NIJA's."""
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if "meta" not in tables:
            raise StateStoreError(f"{self.path}: an SQLite database that is not a NIJA state store")
        row = self._conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        version = int(row[0]) if row is not None else 0
        if version > SCHEMA_VERSION:
            raise StateStoreError(
                f"{self.path}: written by a newer NIJA (schema {version}); this version reads schema {SCHEMA_VERSION}"
            )
        return version

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
        row = table.encode(record)
        with self._lock:
            self._conn.execute(table.upsert_sql, row)
        return record

    def _insert_if_absent(self, table: Table, record: object) -> bool:
        """True when inserted; False when its key exists. Any other constraint broken is an error, never hidden."""
        row = table.encode(record)
        with self._lock:
            cursor = self._conn.execute(table.insert_sql, row)
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
        return [table.decode(row) for row in rows]

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

    @staticmethod
    def _in(column: str, values: Iterable[object]) -> tuple[str, list[str]]:
        wanted = [str(v) for v in values]
        return (f"{column} IN ({', '.join('?' for _ in wanted)})" if wanted else "1 = 0"), wanted

    # ---- orders and fills ----------------------------------------------------------------------------
    def record_order(self, order: OrderRecord) -> OrderRecord:
        """Write an order (its intent before it is sent, then what the exchange said); created_at is kept."""
        now = self.clock.now()
        with self.transaction():
            existing = self.get_order(order.client_order_id)
            created = existing.created_at if existing is not None else (order.created_at or now)
            return self._upsert(ORDERS, replace(order, created_at=created, updated_at=now))

    def save_order(self, order: OrderRecord) -> OrderRecord:
        """Write an order row exactly as given (a new intent under an id whose earlier order never executed)."""
        return self._upsert(ORDERS, order)

    def settle_order(self, order: OrderRecord) -> bool:
        """Write what the exchange said about an order (status, amounts, reason, next look-up), only while
        its stored status is unsettled; True when written. One statement, no read: the ledger
        books with it, so an order already final is never booked twice."""
        values = ORDERS.encode(order, _SETTLED_COLUMNS)
        with self._lock:
            cursor = self._conn.execute(_SETTLE_SQL, [*values.values(), order.client_order_id, *UNSETTLED])
        return cursor.rowcount == 1

    def add_order(self, order: OrderRecord) -> bool:
        """Insert a new order row; False (nothing written) when its client order id exists."""
        return self._insert_if_absent(ORDERS, order)

    def get_order(self, client_order_id: str) -> OrderRecord | None:
        return self._one(ORDERS, {"client_order_id": client_order_id})

    def orders(
        self, broker: str | None = None, account_id: str | None = None, *, statuses: Iterable[str] | None = None,
        signal_id: str | None = None,
    ) -> list[OrderRecord]:
        where = {"broker": broker, "account_id": account_id, "signal_id": signal_id}
        if statuses is None:
            return self._select(ORDERS, where)
        extra, params = self._in("status", statuses)
        return self._select(ORDERS, where, extra=extra, params=params)

    def record_fill(self, fill: FillRecord) -> bool:
        """False when this fill was recorded before (a settled retry reports it again)."""
        return self._insert_if_absent(FILLS, fill)

    def fills(
        self, broker: str | None = None, account_id: str | None = None, *, trade_id: str | None = None
    ) -> list[FillRecord]:
        return self._select(FILLS, {"broker": broker, "account_id": account_id, "trade_id": trade_id},
                            order="time, rowid")

    # ---- positions and trades ------------------------------------------------------------------------
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

    def save_trade(self, trade: TradeRecord) -> TradeRecord:
        return self._upsert(TRADES, trade)

    def trades(self, broker: str | None = None, account_id: str | None = None) -> list[TradeRecord]:
        return self._select(TRADES, {"broker": broker, "account_id": account_id}, order="closed_at, rowid")

    # ---- signals and copies --------------------------------------------------------------------------
    def record_signal(self, signal: SignalRecord) -> tuple[SignalRecord, bool]:
        """(stored signal, created): one signal per master fill, however often the fill is reported."""
        with self.transaction():
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

    def complete_signal(self, signal_id: str, summary: Mapping[str, object]) -> bool:
        """Mark a signal done with its summary; False when it was done already (another thread finished it)."""
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE signals SET status = ?, summary = ?, completed_at = ? WHERE signal_id = ? AND status = ?",
                (str(SignalStatus.DONE), json.dumps(summary, sort_keys=True), self.clock.now(), signal_id,
                 str(SignalStatus.PENDING)),
            )
        if cursor.rowcount == 1:
            return True
        if self.get_signal(signal_id) is None:
            raise KeyError(f"no signal {signal_id} in {self.path}")
        return False

    def add_copy(self, copy: CopyRecord) -> tuple[CopyRecord, bool]:
        """(stored copy, created): the first row of a follower's copy of a signal wins; a second is never made."""
        now = self.clock.now()
        with self.transaction():
            created = self._insert_if_absent(COPIES, replace(copy, created_at=copy.created_at or now,
                                                             updated_at=now))
            stored = self.get_copy(copy.signal_id, copy.follower_id)
        assert stored is not None
        return stored, created

    def finish_copy(self, signal_id: str, follower_id: str, client_order_id: str, status: str, reason: str) -> bool:
        """Set an open copy's outcome, only while it is open and still served by this order; True when set."""
        values = {"status": str(status), "reason": reason}
        return self._update_open_copy(signal_id, follower_id, client_order_id, values)

    def copy_sent(self, copy: CopyRecord) -> bool:
        """An open copy's order intent is written: the row turns sent with its size (the intent's transaction)."""
        return self._update_open_copy(copy.signal_id, copy.follower_id, copy.client_order_id, {
            "status": str(CopyStatus.SENT), "reason": copy.reason,
            "requested_base": None if copy.requested_base is None else str(copy.requested_base),
            "requested_quote": None if copy.requested_quote is None else str(copy.requested_quote),
        })

    def _update_open_copy(self, signal_id: str, follower_id: str, client_order_id: str,
                          values: Mapping[str, object]) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                f"UPDATE copy_events SET {', '.join(f'{c} = ?' for c in values)}, updated_at = ? WHERE signal_id = ? "
                "AND follower_id = ? AND client_order_id = ? AND status IN (?, ?)",
                (*values.values(), self.clock.now(), signal_id, follower_id, client_order_id,
                 str(CopyStatus.PLANNED), str(CopyStatus.SENT)),
            )
        return cursor.rowcount == 1

    def save_copy(self, copy: CopyRecord) -> CopyRecord:
        return self._upsert(COPIES, replace(copy, updated_at=self.clock.now()))

    def get_copy(self, signal_id: str, follower_id: str) -> CopyRecord | None:
        return self._one(COPIES, {"signal_id": signal_id, "follower_id": follower_id})

    def copies(
        self, *, signal_id: str | None = None, broker: str | None = None, follower_id: str | None = None,
        statuses: Iterable[str] | None = None,
    ) -> list[CopyRecord]:
        where = {"signal_id": signal_id, "broker": broker, "follower_id": follower_id}
        if statuses is None:
            return self._select(COPIES, where)
        extra, params = self._in("status", statuses)
        return self._select(COPIES, where, extra=extra, params=params)

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
