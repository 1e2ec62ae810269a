"""Tables of the state store; one table per record type, columns named as the record's fields.

Plain SQL that PostgreSQL runs as well as SQLite: amounts are TEXT holding the decimal string
(``'0.00062080'``), never REAL, so what the exchange said is what is read back; booleans are
INTEGER 0/1; JSON is TEXT. Version 2 (issue 10) adds the order's plan, exact amounts, realised
P&L, the copy outbox's retry columns and the ``trades`` table; version 3 (issue 11) the figures
behind each account's health verdict; ``bot.state.migrations`` brings an older store up to date.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from bot.state.records import (
    AccountStateRecord,
    CopyRecord,
    CopyStatus,
    FillRecord,
    HealthRecord,
    HealthStatus,
    MasterHeartbeat,
    OrderPlan,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    SignalStatus,
    TradeRecord,
)

SCHEMA_VERSION = 3

#: version 3: the figures behind an account's health verdict (added to version-2 stores by bot.state.migrations)
HEALTH_WINDOW_COLUMNS = (
    "reason TEXT NOT NULL DEFAULT '', fix TEXT NOT NULL DEFAULT '', recent_passes INTEGER NOT NULL DEFAULT 0, "
    "recent_failed_passes INTEGER NOT NULL DEFAULT 0, recent_calls INTEGER NOT NULL DEFAULT 0, "
    "recent_failed_calls INTEGER NOT NULL DEFAULT 0"
)


@dataclass(frozen=True)
class Codec:
    """How one column's value is written (Python -> SQL) and read back (SQL -> Python); None stays None."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _enum(kind: type) -> Codec:
    return Codec(str, kind)


DECIMAL = Codec(str, Decimal)
BOOLEAN = Codec(lambda v: int(bool(v)), bool)
JSON = Codec(lambda v: json.dumps(v, sort_keys=True), json.loads)
PLAN = Codec(OrderPlan.to_json, OrderPlan.from_json)


@dataclass(frozen=True)
class Table:
    """How one record type is stored: its table, primary key, and the columns that need converting."""

    name: str
    record: type
    key: tuple[str, ...]
    codecs: dict[str, Codec] = field(default_factory=dict)
    upsert_sql: str = field(init=False, repr=False, compare=False)
    insert_sql: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        columns = tuple(f.name for f in fields(self.record))
        object.__setattr__(self, "columns", columns)
        # A whole record's insert, built once (a copy writes several rows, and every string built for them is CPU
        # that the other followers wait for): it updates the row, or does nothing, when its key exists.
        head = (f"INSERT INTO {self.name} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
                f"ON CONFLICT ({', '.join(self.key)}) DO ")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in self.key)
        object.__setattr__(self, "upsert_sql", head + f"UPDATE SET {updates}")
        object.__setattr__(self, "insert_sql", head + "NOTHING")

    def encode(self, record: object, columns: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The row of `record` (only `columns`, in their order, when given: an update of a few columns)."""
        row = {name: getattr(record, name) for name in columns or self.columns}  # type: ignore[attr-defined]
        for name, codec in self.codecs.items():
            if row.get(name) is not None:
                row[name] = codec.encode(row[name])
        return row

    def decode(self, row: Any) -> Any:
        values = dict(row)
        for name, codec in self.codecs.items():
            if values[name] is not None:
                values[name] = codec.decode(values[name])
        return self.record(**values)


def _decimals(*names: str) -> dict[str, Codec]:
    return dict.fromkeys(names, DECIMAL)


ORDERS = Table("orders", OrderRecord, ("client_order_id",), {
    **_decimals("requested_base", "requested_quote", "filled_base", "filled_quote", "avg_price", "fee_quote",
                "fee_base"),
    "plan": PLAN,
})
FILLS = Table("fills", FillRecord, ("fill_id",),
              _decimals("base_qty", "price", "quote_qty", "fee_quote", "fee_base", "realised_pnl"))
POSITIONS = Table("positions", PositionRecord, ("broker", "account_id", "symbol"), {
    **_decimals("quantity", "initial_quantity", "cost_quote"), "first_target_hit": BOOLEAN, "is_copy": BOOLEAN,
})
TRADES = Table("trades", TradeRecord, ("trade_id",), {
    **_decimals("quantity", "avg_entry", "avg_exit", "fees_quote", "realised_pnl"), "is_copy": BOOLEAN,
})
SIGNALS = Table("signals", SignalRecord, ("signal_id",), {
    **_decimals("fill_price", "filled_base", "quote_notional", "fraction_sold"),
    "status": _enum(SignalStatus), "summary": JSON,
})
COPIES = Table("copy_events", CopyRecord, ("signal_id", "follower_id"), {
    **_decimals("requested_base", "requested_quote"), "status": _enum(CopyStatus),
})
ACCOUNT_STATES = Table("account_states", AccountStateRecord, ("broker", "account_id"))
HEALTH = Table("health", HealthRecord, ("broker", "account_id"), {"status": _enum(HealthStatus)})
HEARTBEATS = Table("master_heartbeats", MasterHeartbeat, ("broker",))

#: one CREATE per table (the migration builds new tables from these); indexes follow in INDEXES
TABLE_DDL: dict[str, str] = {
    "meta": "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "orders": """CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_id TEXT NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, status TEXT NOT NULL, requested_base TEXT, requested_quote TEXT,
    purpose TEXT NOT NULL DEFAULT '', signal_id TEXT, reason TEXT NOT NULL DEFAULT '', exchange_order_id TEXT,
    filled_base TEXT NOT NULL DEFAULT '0', filled_quote TEXT NOT NULL DEFAULT '0', avg_price TEXT NOT NULL DEFAULT '0',
    fee_quote TEXT NOT NULL DEFAULT '0', fee_base TEXT NOT NULL DEFAULT '0', plan TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, next_check_at REAL, checks INTEGER NOT NULL DEFAULT 0
)""",
    "fills": """CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_id TEXT NOT NULL, client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, base_qty TEXT NOT NULL, price TEXT NOT NULL,
    quote_qty TEXT NOT NULL DEFAULT '0', fee_quote TEXT NOT NULL DEFAULT '0', fee_base TEXT NOT NULL DEFAULT '0',
    realised_pnl TEXT, trade_id TEXT, time REAL NOT NULL, exchange_order_id TEXT
)""",
    "positions": """CREATE TABLE IF NOT EXISTS positions (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, symbol TEXT NOT NULL, entry_price REAL NOT NULL,
    quantity TEXT NOT NULL, initial_quantity TEXT NOT NULL, stop_price REAL NOT NULL, initial_stop REAL NOT NULL,
    risk_per_unit REAL NOT NULL, opened_at REAL NOT NULL, first_target_hit INTEGER NOT NULL DEFAULT 0,
    highest_close REAL NOT NULL DEFAULT 0, is_copy INTEGER NOT NULL DEFAULT 0, source_signal_id TEXT,
    cost_quote TEXT NOT NULL DEFAULT '0', trade_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (broker, account_id, symbol)
)""",
    "trades": """CREATE TABLE IF NOT EXISTS trades (
    trade_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_id TEXT NOT NULL, symbol TEXT NOT NULL,
    opened_at REAL NOT NULL, closed_at REAL NOT NULL, quantity TEXT NOT NULL, avg_entry TEXT NOT NULL,
    avg_exit TEXT NOT NULL, fees_quote TEXT NOT NULL, realised_pnl TEXT NOT NULL, exit_reasons TEXT NOT NULL DEFAULT '',
    is_copy INTEGER NOT NULL DEFAULT 0, source_signal_id TEXT
)""",
    "signals": """CREATE TABLE IF NOT EXISTS signals (
    signal_id TEXT PRIMARY KEY, broker TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    fill_price TEXT NOT NULL, filled_base TEXT NOT NULL, quote_notional TEXT NOT NULL,
    master_order_id TEXT NOT NULL, master_equity REAL NOT NULL, time REAL NOT NULL, fraction_sold TEXT,
    master_stop_price REAL, master_client_order_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
    summary TEXT, completed_at REAL
)""",
    "copy_events": """CREATE TABLE IF NOT EXISTS copy_events (
    signal_id TEXT NOT NULL, broker TEXT NOT NULL, follower_id TEXT NOT NULL,
    status TEXT NOT NULL, client_order_id TEXT NOT NULL UNIQUE, side TEXT NOT NULL, symbol TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', requested_base TEXT, requested_quote TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL DEFAULT 0, updated_at REAL NOT NULL,
    PRIMARY KEY (signal_id, follower_id)
)""",
    "account_states": """CREATE TABLE IF NOT EXISTS account_states (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, role TEXT NOT NULL, state TEXT NOT NULL,
    reason TEXT NOT NULL, fix TEXT NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
    open_positions INTEGER NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (broker, account_id)
)""",
    "health": """CREATE TABLE IF NOT EXISTS health (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, status TEXT NOT NULL, cycles INTEGER NOT NULL,
    successes INTEGER NOT NULL, consecutive_errors INTEGER NOT NULL, last_error TEXT NOT NULL,
    last_cycle_at REAL, """ + HEALTH_WINDOW_COLUMNS + """,
    PRIMARY KEY (broker, account_id)
)""",
    "master_heartbeats": """CREATE TABLE IF NOT EXISTS master_heartbeats (
    broker TEXT PRIMARY KEY, account_id TEXT NOT NULL, last_seen REAL NOT NULL
)""",
}

INDEXES: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS orders_by_account ON orders (broker, account_id, status)",
    # the in-flight loop asks for a whole brokerage's unsettled orders (no account): without this it walks them all
    "CREATE INDEX IF NOT EXISTS orders_by_status ON orders (broker, status)",
    "CREATE INDEX IF NOT EXISTS orders_by_signal ON orders (signal_id)",
    "CREATE INDEX IF NOT EXISTS fills_by_account ON fills (broker, account_id, time)",
    "CREATE INDEX IF NOT EXISTS fills_by_trade ON fills (trade_id)",
    "CREATE INDEX IF NOT EXISTS trades_by_account ON trades (broker, account_id, closed_at)",
    "CREATE INDEX IF NOT EXISTS signals_by_status ON signals (broker, status)",
    "CREATE INDEX IF NOT EXISTS copy_events_by_follower ON copy_events (broker, follower_id)",
    "CREATE INDEX IF NOT EXISTS copy_events_by_status ON copy_events (broker, status)",
)

#: every statement that creates a new store, in order
DDL: tuple[str, ...] = (
    *TABLE_DDL.values(),
    *INDEXES,
    f"INSERT INTO meta (name, value) VALUES ('schema_version', '{SCHEMA_VERSION}') ON CONFLICT (name) DO NOTHING",
)
