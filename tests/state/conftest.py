"""A real SQLite state store in a temporary directory on a ManualClock, and records with every field set."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.state.records import (
    AccountStateRecord,
    CopyRecord,
    CopyStatus,
    FillRecord,
    HealthRecord,
    HealthStatus,
    OrderPlan,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    SignalStatus,
    TradeRecord,
)
from bot.state.store import StateStore

START = 1_750_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path whose directory does not exist yet: the store must create it."""
    return tmp_path / "state" / "nija.sqlite3"


@pytest.fixture
def store(db_path: Path, clock: ManualClock) -> Iterator[StateStore]:
    with StateStore(db_path, clock=clock) as opened:
        yield opened


def order(client_order_id: str = "coid-1", **changes: object) -> OrderRecord:
    """An order with no field left at its default, so a column that is dropped or mangled shows."""
    values: dict[str, object] = {
        "client_order_id": client_order_id, "broker": "kraken", "account_id": "master", "symbol": "BTC-USD",
        "side": "buy", "status": "open", "requested_base": D("0.125"), "requested_quote": D("8000.50"),
        "purpose": "copy_entry", "signal_id": "sig-1", "reason": "sized to 10% of equity",
        "exchange_order_id": "OABC-123", "filled_base": D("0.0625"), "filled_quote": D("4000.015625"),
        "avg_price": D("64000.25"), "fee_quote": D("1.75"), "fee_base": D("0.00001"),
        "plan": OrderPlan(equity_before=80_000.5, emits_signal=True, stop_distance=1_500.25, planned_stop=62_500.0,
                          targets=(65_500.5, 67_000.75), exit_reason="first_target", sell_fraction=0.5,
                          position_quantity=D("0.12500000"), keep_stop=64_000.25, highest_close=65_100.75,
                          copy_stop=62_000.0),
        "created_at": START - 60.0, "updated_at": START, "next_check_at": START + 5.0, "checks": 3,
    }
    values.update(changes)
    return OrderRecord(**values)  # type: ignore[arg-type]


def fill(fill_id: str = "fill-1", **changes: object) -> FillRecord:
    values: dict[str, object] = {
        "fill_id": fill_id, "broker": "kraken", "account_id": "master", "client_order_id": "coid-1",
        "symbol": "BTC-USD", "side": "sell", "base_qty": D("0.0625"), "price": D("64000.25"),
        "quote_qty": D("4000.015625"), "fee_quote": D("1.75"), "fee_base": D("0.000001"), "realised_pnl": D("-12.5"),
        "trade_id": "trade-1", "time": START - 30.0, "exchange_order_id": "OABC-123",
    }
    values.update(changes)
    return FillRecord(**values)  # type: ignore[arg-type]


def position(symbol: str = "BTC-USD", **changes: object) -> PositionRecord:
    values: dict[str, object] = {
        "broker": "kraken", "account_id": "alice", "symbol": symbol, "entry_price": 64_000.25,
        "quantity": D("0.05000000"), "initial_quantity": D("0.1"), "stop_price": 63_000.5, "initial_stop": 62_500.0,
        "risk_per_unit": 1_500.25, "opened_at": START - 3_600.0, "first_target_hit": True,
        "highest_close": 65_100.75, "is_copy": True, "source_signal_id": "sig-1", "cost_quote": D("3212.345"),
        "trade_id": "trade-1",
    }
    values.update(changes)
    return PositionRecord(**values)  # type: ignore[arg-type]


def signal(signal_id: str = "sig-1", **changes: object) -> SignalRecord:
    values: dict[str, object] = {
        "signal_id": signal_id, "broker": "kraken", "symbol": "BTC-USD", "side": "buy", "fill_price": D("64000.25"),
        "filled_base": D("0.125"), "quote_notional": D("8000.03"), "master_order_id": f"mo-{signal_id}",
        "master_equity": 80_000.5, "time": START - 10.0, "fraction_sold": D("0.5"), "master_stop_price": 62_000.0,
        "master_client_order_id": "mcoid-1", "status": SignalStatus.DONE,
        "summary": {"filled": 2, "failed": ["bob"], "detail": {"alice": 0.01, "carol": None, "paper": True}},
        "completed_at": START - 5.0,
    }
    values.update(changes)
    return SignalRecord(**values)  # type: ignore[arg-type]


def copy_event(follower_id: str = "alice", signal_id: str = "sig-1", **changes: object) -> CopyRecord:
    values: dict[str, object] = {
        "signal_id": signal_id, "broker": "kraken", "follower_id": follower_id, "status": CopyStatus.SENT,
        "client_order_id": f"copy-{signal_id}-{follower_id}", "side": "buy", "symbol": "BTC-USD",
        "reason": "sized 1.0x", "requested_base": D("0.01"), "requested_quote": D("640.50"), "attempts": 2,
        "next_attempt_at": START + 30.0, "created_at": START - 1.0, "updated_at": START,
    }
    values.update(changes)
    return CopyRecord(**values)  # type: ignore[arg-type]


def trade(trade_id: str = "trade-1", **changes: object) -> TradeRecord:
    values: dict[str, object] = {
        "trade_id": trade_id, "broker": "kraken", "account_id": "alice", "symbol": "BTC-USD",
        "opened_at": START - 3_600.0, "closed_at": START, "quantity": D("0.1"), "avg_entry": D("64000.25"),
        "avg_exit": D("65000.5"), "fees_quote": D("8.32"), "realised_pnl": D("91.70"),
        "exit_reasons": "first_target,stop", "is_copy": True, "source_signal_id": "sig-1",
    }
    values.update(changes)
    return TradeRecord(**values)  # type: ignore[arg-type]


def account_state(account_id: str = "alice", **changes: object) -> AccountStateRecord:
    values: dict[str, object] = {
        "broker": "kraken", "account_id": account_id, "role": "user", "state": "TRADING",
        "reason": "funded and connected", "fix": "", "equity": 1_234.56, "cash": 1_000.25,
        "open_positions": 3, "updated_at": START,
    }
    values.update(changes)
    return AccountStateRecord(**values)  # type: ignore[arg-type]


def health(account_id: str = "alice", **changes: object) -> HealthRecord:
    values: dict[str, object] = {
        "broker": "kraken", "account_id": account_id, "status": HealthStatus.DEGRADED, "cycles": 41,
        "successes": 38, "consecutive_errors": 2, "last_error": "timeout talking to kraken",
        "last_cycle_at": START - 1.0,
    }
    values.update(changes)
    return HealthRecord(**values)  # type: ignore[arg-type]
