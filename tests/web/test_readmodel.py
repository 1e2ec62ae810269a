"""The read model over a real paper run's store (trades, P&L, signals and their copies, tracking) and over stores
it must refuse or read as empty."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.state.readmodel import ReadModel, ReadModelError
from bot.state.records import AccountStateRecord, FillRecord, OrderRecord
from bot.state.store import StateStore
from tests.web.conftest import Traded

START = 1_750_000_000.0


def test_each_trade_is_a_whole_round_trip_of_its_fills(traded: Traded) -> None:
    with ReadModel(traded.path) as read, StateStore(traded.path, read_only=True) as store:
        trades = read.trades()
        assert {t.account_id for t in trades} == {"master", "demo_user_1", "demo_user_2"}
        for trade in trades:
            fills = [f for f in store.fills(trade.broker, trade.account_id)
                     if f.symbol == trade.symbol and trade.opened_at <= f.time <= trade.closed_at]
            bought = sum(f.base_qty for f in fills if f.side == "buy")
            sold = sum(f.base_qty for f in fills if f.side == "sell")
            cash = sum(f.base_qty * f.price * (1 if f.side == "sell" else -1) - f.fee_quote for f in fills)
            assert sold == pytest.approx(bought, rel=1e-9), "a trade ends flat"
            assert trade.quantity == pytest.approx(bought, rel=1e-12)
            assert trade.realised_pnl == pytest.approx(cash, abs=1e-9)
            assert trade.fees == pytest.approx(sum(f.fee_quote for f in fills), abs=1e-12)
            cost = sum(f.base_qty * f.price for f in fills if f.side == "buy")
            assert trade.return_pct == pytest.approx(100 * cash / cost)
            assert trade.is_copy == (trade.account_id != "master")
            assert trade.exit_reasons and all(r.startswith(("exit", "copy exit")) for r in trade.exit_reasons)


def test_accounts_carry_state_money_and_the_realised_pnl_of_their_trades(traded: Traded) -> None:
    with ReadModel(traded.path) as read:
        accounts = {a.account_id: a for a in read.accounts(read.latest_update() or 0.0)}
        assert set(accounts) == {"master", "demo_user_1", "demo_user_2"}
        assert read.accounts(0.0)[0].account_id == "master"  # the master first on its brokerage
        for account in accounts.values():
            trades = read.trades("kraken", account.account_id)
            assert account.trades == len(trades) >= 1
            assert account.realised_pnl == pytest.approx(sum(t.realised_pnl for t in trades))
            assert account.health is not None and account.health.cycles > 0
        assert accounts["master"].state == "TRADING" and accounts["demo_user_1"].state == "FOLLOWING"
        assert read.trades(since=traded.closed_at + 10 * 86_400) == []


def test_every_master_fill_is_a_signal_with_each_followers_copy_and_its_arithmetic(traded: Traded) -> None:
    with ReadModel(traded.path) as read, StateStore(traded.path, read_only=True) as store:
        signals = read.signals("kraken", limit=100)
        assert len(signals) == len(store.fills("kraken", "master"))
        assert [s.time for s in signals] == sorted((s.time for s in signals), reverse=True)  # newest first
        for signal in signals:
            assert [c.follower_id for c in signal.copies] == ["demo_user_1", "demo_user_2"]
            for copy in signal.copies:
                assert copy.status in ("filled", "skipped") and copy.reason
                if copy.status == "skipped":
                    assert copy.filled_at is None and copy.latency_seconds is None
                    continue
                assert copy.filled_at is not None and copy.latency_seconds is not None
                assert copy.latency_seconds == pytest.approx(max(copy.filled_at - signal.time, 0.0))
                if signal.side == "buy":  # the sizing arithmetic of docs/rules.md §5, in words
                    assert f"x {signal.master_equity:.2f}" not in copy.reason
                    assert f"/ {signal.master_equity:.2f}" in copy.reason
            line = signal.summary_line()
            assert line.startswith(f"kraken:master {signal.side.upper()}")
            assert f"{signal.counts.get('filled', 0)} filled" in line or "filled" not in signal.counts


def test_tracking_sets_each_followers_round_trips_beside_the_masters(traded: Traded) -> None:
    with ReadModel(traded.path) as read:
        rows = {r.follower_id: r for r in read.tracking("kraken")}
        trades = read.trades("kraken")
        master = [t for t in trades if t.account_id == "master"]
        for follower_id, row in rows.items():
            own = [t for t in trades if t.account_id == follower_id]
            assert row.matched_trades == len(own) == len(master)
            assert row.copies_filled + row.copies_skipped == len(read.signals("kraken", limit=1000))
            assert row.copies_filled >= 2 and row.copies_failed == 0
            assert row.follower_return_pct == pytest.approx(sum(t.return_pct for t in own) / len(own))
            assert row.master_return_pct == pytest.approx(sum(t.return_pct for t in master) / len(master))
            assert row.tracking_difference_pct == pytest.approx(row.follower_return_pct - row.master_return_pct)
            assert abs(row.tracking_difference_pct) < 0.5  # the same trade, a follower's fees and rounding apart


def _fill(n: int, side: str, qty: float, price: float, fee: float, at: float, symbol: str = "ETH-USD") -> FillRecord:
    return FillRecord(f"order:c{n}", "kraken", "alice", f"c{n}", symbol, side, qty, price, fee, at)


def test_partial_exits_are_booked_by_average_cost(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    with StateStore(path, clock=ManualClock(START)) as store:
        store.record_fill(_fill(0, "sell", 1.0, 50.0, 0.0, START - 10))  # coins from before the store: no trip
        for n, (side, qty, price, fee, at) in enumerate([
            ("buy", 1.0, 100.0, 0.10, START), ("buy", 1.0, 110.0, 0.11, START + 1),  # average cost 105
            ("sell", 0.5, 120.0, 0.06, START + 2), ("sell", 1.5, 100.0, 0.15, START + 3),  # flat again
            ("buy", 2.0, 10.0, 0.02, START + 4),  # a second trip, still open
        ], start=1):
            store.record_order(OrderRecord(f"c{n}", "kraken", "alice", "ETH-USD", side, "filled",
                                           purpose="copy_entry" if side == "buy" else "copy_exit", signal_id="s1",
                                           reason="stop" if n == 4 else ""))
            store.record_fill(_fill(n, side, qty, price, fee, at))
    with ReadModel(path) as read:
        [trade] = read.trades()
        assert (trade.quantity, trade.entry_price, trade.opened_at, trade.closed_at) == (2.0, 105.0, START, START + 3)
        assert trade.exit_price == pytest.approx((0.5 * 120 + 1.5 * 100) / 2)
        assert trade.fees == pytest.approx(0.42)
        assert trade.realised_pnl == pytest.approx(0.5 * 120 + 1.5 * 100 - 2 * 105 - 0.42)
        assert trade.return_pct == pytest.approx(100 * trade.realised_pnl / 210)
        assert trade.exit_reasons == ("copy exit", "copy exit: stop")
        assert trade.is_copy and trade.entry_signal_id == "s1"
        midnight = START - START % 86_400
        assert read.accounts(START) == []  # no account state stored: no account row
        assert [t.closed_at for t in read.trades(since=midnight)] == [START + 3]


def test_a_store_without_cockpit_tables_reads_as_empty_and_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    StateStore(path).close()
    with ReadModel(path) as read:
        assert (read.accounts(START), read.trades(), read.signals(), read.tracking()) == ([], [], [], [])
    foreign = tmp_path / "other.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(ReadModelError, match="not a NIJA state store"):
        ReadModel(foreign)
    with pytest.raises(ReadModelError, match="no state store here"):
        ReadModel(tmp_path / "missing.sqlite3")


def test_fills_added_later_are_read_on_top_and_agree_with_a_fresh_read(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    midnight = START - START % 86_400 + 86_400
    with StateStore(path, clock=ManualClock(START)) as store, ReadModel(path) as read:
        store.save_account_state(AccountStateRecord("kraken", "alice", "user", "FOLLOWING", "copies", ""))
        store.record_fill(_fill(0, "buy", 1.0, 100.0, 0.0, midnight - 50))
        store.record_fill(_fill(1, "sell", 1.0, 110.0, 0.0, midnight - 10))  # +10, yesterday
        assert [t.realised_pnl for t in read.trades()] == [10.0]
        store.record_fill(_fill(2, "buy", 2.0, 50.0, 0.0, midnight + 5))
        store.record_fill(_fill(3, "sell", 2.0, 45.0, 0.0, midnight + 10))  # -10, today
        # A trip booked late whose close comes before the others' (another symbol): put in its place.
        store.record_fill(_fill(4, "buy", 1.0, 10.0, 0.0, midnight - 100, symbol="SOL-USD"))
        store.record_fill(_fill(5, "sell", 1.0, 13.0, 0.0, midnight - 5, symbol="SOL-USD"))  # +3, yesterday
        assert [t.realised_pnl for t in read.trades()] == [10.0, -10.0, 3.0]
        [alice] = read.accounts(midnight + 100)
        assert (alice.trades, alice.realised_pnl, alice.realised_pnl_today) == (3, 3.0, -10.0)
        with ReadModel(path) as fresh:
            assert fresh.trades() == read.trades()
            assert fresh.accounts(midnight + 100) == read.accounts(midnight + 100)
