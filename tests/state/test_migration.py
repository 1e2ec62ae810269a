"""A version-1 store (amounts as REAL, no plans, no trades) is migrated to version 2 in one step on open:
every row kept, every amount the exact decimal it was written from, copy rows ready for the outbox."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.state.records import CopyStatus, SignalStatus
from bot.state.schema import SCHEMA_VERSION
from bot.state.store import StateStore, StateStoreError
from tests.state.conftest import START

#: the version-1 DDL exactly as main shipped it (bot/state/schema.py at schema 1)
V1_DDL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', '1');

CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_id TEXT NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, status TEXT NOT NULL, requested_base REAL, requested_quote REAL,
    purpose TEXT NOT NULL DEFAULT '', signal_id TEXT, reason TEXT NOT NULL DEFAULT '', exchange_order_id TEXT,
    filled_base REAL NOT NULL DEFAULT 0, avg_price REAL NOT NULL DEFAULT 0, fee_quote REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_account ON orders (broker, account_id, status);

CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY, broker TEXT NOT NULL, account_id TEXT NOT NULL, client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL, side TEXT NOT NULL, base_qty REAL NOT NULL, price REAL NOT NULL,
    fee_quote REAL NOT NULL DEFAULT 0, time REAL NOT NULL, exchange_order_id TEXT
);
CREATE INDEX IF NOT EXISTS fills_by_account ON fills (broker, account_id, time);

CREATE TABLE IF NOT EXISTS positions (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, symbol TEXT NOT NULL, entry_price REAL NOT NULL,
    quantity REAL NOT NULL, initial_quantity REAL NOT NULL, stop_price REAL NOT NULL, initial_stop REAL NOT NULL,
    risk_per_unit REAL NOT NULL, opened_at REAL NOT NULL, first_target_hit INTEGER NOT NULL DEFAULT 0,
    highest_close REAL NOT NULL DEFAULT 0, is_copy INTEGER NOT NULL DEFAULT 0, source_signal_id TEXT,
    PRIMARY KEY (broker, account_id, symbol)
);

CREATE TABLE IF NOT EXISTS signals (
    signal_id TEXT PRIMARY KEY, broker TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    fill_price REAL NOT NULL, filled_base REAL NOT NULL, quote_notional REAL NOT NULL,
    master_order_id TEXT NOT NULL, master_equity REAL NOT NULL, time REAL NOT NULL, fraction_sold REAL,
    master_stop_price REAL, master_client_order_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,
    summary TEXT, completed_at REAL,
    UNIQUE (broker, master_order_id)
);
CREATE INDEX IF NOT EXISTS signals_by_status ON signals (broker, status);

CREATE TABLE IF NOT EXISTS copy_events (
    signal_id TEXT NOT NULL, broker TEXT NOT NULL, follower_id TEXT NOT NULL,
    status TEXT NOT NULL, client_order_id TEXT NOT NULL UNIQUE, side TEXT NOT NULL, symbol TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '', requested_base REAL, requested_quote REAL,
    filled_base REAL NOT NULL DEFAULT 0, avg_price REAL NOT NULL DEFAULT 0, fee_quote REAL NOT NULL DEFAULT 0,
    exchange_order_id TEXT, updated_at REAL NOT NULL,
    PRIMARY KEY (signal_id, follower_id)
);
CREATE INDEX IF NOT EXISTS copy_events_by_follower ON copy_events (broker, follower_id);

CREATE TABLE IF NOT EXISTS account_states (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, role TEXT NOT NULL, state TEXT NOT NULL,
    reason TEXT NOT NULL, fix TEXT NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
    open_positions INTEGER NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (broker, account_id)
);

CREATE TABLE IF NOT EXISTS health (
    broker TEXT NOT NULL, account_id TEXT NOT NULL, status TEXT NOT NULL, cycles INTEGER NOT NULL,
    successes INTEGER NOT NULL, consecutive_errors INTEGER NOT NULL, last_error TEXT NOT NULL,
    last_cycle_at REAL,
    PRIMARY KEY (broker, account_id)
);

CREATE TABLE IF NOT EXISTS master_heartbeats (
    broker TEXT PRIMARY KEY, account_id TEXT NOT NULL, last_seen REAL NOT NULL
);
"""


def _v1_store(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    conn.execute(
        "INSERT INTO orders VALUES ('coid-open', 'kraken', 'master', 'LTC-USD', 'buy', 'in_flight', NULL, 500.0, "
        "'entry', NULL, '', NULL, 0, 0, 0, ?, ?)", (START - 60, START - 60))
    conn.execute(
        "INSERT INTO orders VALUES ('coid-done', 'kraken', 'alice', 'ETH-USD', 'buy', 'filled', NULL, 49.99, "
        "'copy_entry', 'sig-1', 'sized', 'OX-1', 0.00124158, 3021.5, 0.13, ?, ?)", (START - 50, START - 40))
    conn.execute(
        "INSERT INTO fills VALUES ('order:coid-done', 'kraken', 'alice', 'coid-done', 'ETH-USD', 'buy', 0.00124158, "
        "3021.5, 0.13, ?, 'OX-1')", (START - 40,))
    conn.execute(
        "INSERT INTO fills VALUES ('order:old', 'kraken', 'alice', 'old', 'SOL-USD', 'buy', 1.5, 150.0, 0.1, ?, NULL)",
        (START - 9_000,))
    conn.execute(
        "INSERT INTO positions VALUES ('kraken', 'alice', 'ETH-USD', 3021.5, 0.00124158, 0.00124158, 2950.25, "
        "2950.25, 71.25, ?, 0, 3021.5, 1, 'sig-1')", (START - 40,))
    conn.execute(
        "INSERT INTO signals VALUES ('sig-1', 'kraken', 'ETH-USD', 'buy', 3000.0, 0.1, 300.0, 'MO-1', 10000.0, ?, "
        "NULL, 2940.0, 'mcoid', 'pending', NULL, NULL)", (START - 45,))
    conn.execute(
        "INSERT INTO copy_events VALUES ('sig-1', 'kraken', 'alice', 'filled', 'coid-done', 'buy', 'ETH-USD', 'sized', "
        "NULL, 49.99, 0.00124158, 3021.5, 0.13, 'OX-1', ?)", (START - 40,))
    conn.execute(
        "INSERT INTO copy_events VALUES ('sig-1', 'kraken', 'bob', 'planned', 'coid-bob', 'buy', 'ETH-USD', '', "
        "NULL, 20.0, 0, 0, 0, NULL, ?)", (START - 44,))
    conn.execute("INSERT INTO health VALUES ('kraken', 'alice', 'healthy', 3, 3, 0, '', ?)", (START,))
    conn.commit()
    conn.close()


def test_a_version_1_store_is_migrated_with_every_row_and_exact_amounts(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nija.sqlite3"
    _v1_store(path)
    with StateStore(path, clock=ManualClock(START)) as store:
        open_order = store.get_order("coid-open")
        assert open_order is not None and open_order.status == "in_flight" and open_order.plan is None
        assert open_order.requested_quote == Decimal("500.0") and open_order.checks == 0
        done = store.get_order("coid-done")
        assert done is not None and str(done.filled_base) == "0.00124158" and done.fee_base == 0
        assert done.filled_quote == Decimal("0.00124158") * Decimal("3021.5")
        position = store.get_position("kraken", "alice", "ETH-USD")
        assert position is not None and str(position.quantity) == "0.00124158"
        # the example of issue 10: with exact amounts a half of it is a half, and what is left is exact
        assert position.quantity - Decimal("0.00062078") == Decimal("0.00062080")
        assert position.cost_quote == Decimal("0.00124158") * Decimal("3021.5")
        assert position.trade_id and position.is_copy and position.stop_price == 2950.25
        fills = {f.fill_id: f for f in store.fills()}
        assert fills["order:coid-done"].trade_id == position.trade_id  # the open round trip's buy
        assert fills["order:old"].trade_id is None  # a fill before the position opened is not part of it
        signal = store.get_signal("sig-1")
        assert signal is not None and signal.status is SignalStatus.PENDING
        assert signal.fill_price == Decimal("3000.0") and signal.fraction_sold is None
        copies = {c.follower_id: c for c in store.copies(signal_id="sig-1")}
        assert copies["alice"].status is CopyStatus.FILLED and copies["alice"].requested_quote == Decimal("49.99")
        assert copies["bob"].status is CopyStatus.PLANNED and copies["bob"].next_attempt_at == 0.0
        assert store.trades() == []
        health = store.get_health("kraken", "alice")
        assert health is not None and health.cycles == 3
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert conn.execute("SELECT typeof(quantity) FROM positions").fetchone()[0] == "text"
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert {"orders_by_account", "fills_by_account", "copy_events_by_follower", "trades_by_account"} <= indexes
    conn.close()
    with StateStore(path) as again:  # opening a migrated store again changes nothing
        assert again.get_position("kraken", "alice", "ETH-USD") == position


def test_a_read_only_viewer_does_not_migrate_and_says_how_to(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    _v1_store(path)
    with pytest.raises(StateStoreError, match="older NIJA \\(schema 1\\); start the bot once"):
        StateStore(path, read_only=True)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0] == "1"
    conn.close()


def test_a_migration_that_fails_leaves_the_version_1_store_untouched(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    _v1_store(path)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO signals (signal_id, broker, symbol, side, fill_price, filled_base, quote_notional, "
                 "master_order_id, master_equity, time, status) VALUES ('bad', 'kraken', 'X-USD', 'buy', 'n/a', 1, 1, "
                 "'MO-bad', 1, 1, 'pending')")
    conn.commit()
    conn.close()
    expected = f"cannot upgrade schema 1 to {SCHEMA_VERSION}, the file is unchanged: signals row 2 \\(bad\\)"
    with pytest.raises(StateStoreError, match=expected):
        StateStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0] == "1"
    assert conn.execute("SELECT typeof(quantity) FROM positions").fetchone()[0] == "real"
    assert conn.execute("SELECT count(*) FROM copy_events").fetchone()[0] == 2
    conn.close()
