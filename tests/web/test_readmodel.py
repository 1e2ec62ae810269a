"""The read model over a real paper run's store (trades, P&L, signals and their copies, tracking) and over stores
it must refuse or read as empty."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.execution.ids import signal_id_for
from bot.state.readmodel import ReadModel, ReadModelError
from bot.state.records import AccountStateRecord, FillRecord, PositionRecord, SignalRecord, TradeRecord
from bot.state.store import StateStore
from tests.web.conftest import Traded

START = 1_750_000_000.0
#: the signal the master trip "t2" emitted: booking derives it from the trip's opening buy (bot.execution.booking)
SIG = signal_id_for("kraken", "t2")


def test_each_trade_is_the_ledgers_round_trip_of_its_fills(traded: Traded) -> None:
    with ReadModel(traded.path) as read, StateStore(traded.path, read_only=True) as store:
        trades = read.trades()
        assert {t.account_id for t in trades} == {"master", "demo_user_1", "demo_user_2"}
        for trade in trades:
            fills = store.fills(trade.broker, trade.account_id, trade_id=trade.trade_id)
            bought = sum(f.base_delta for f in fills if f.side == "buy")
            sold = -sum(f.base_delta for f in fills if f.side == "sell")
            cash = sum(f.quote_delta for f in fills)  # what the round trip left in quote, fees included
            assert fills and sold == bought, "a trade ends flat"
            assert trade.quantity == pytest.approx(float(bought), rel=1e-12)
            assert trade.realised_pnl == pytest.approx(float(cash), abs=1e-6)
            assert trade.fees == pytest.approx(float(sum(f.fee_quote + f.fee_base * f.price for f in fills)))
            assert trade.return_pct == pytest.approx(100 * trade.realised_pnl / (trade.quantity * trade.entry_price))
            assert trade.is_copy == (trade.account_id != "master") and trade.exit_reasons


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


def _trade(n: int, pnl: str, closed_at: float, *, account: str = "alice", symbol: str = "ETH-USD",
           is_copy: bool = True, reasons: str = "first_target,stop,stop") -> TradeRecord:
    return TradeRecord(f"t{n}", "kraken", account, symbol, closed_at - 60, closed_at, Decimal("2"), Decimal("105"),
                       Decimal("110.5"), Decimal("0.42"), Decimal(pnl), reasons, is_copy, SIG if is_copy else None)


def test_ledger_trades_and_open_trips_become_views(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    with StateStore(path, clock=ManualClock(START)) as store:
        store.save_account_state(AccountStateRecord("kraken", "alice", "user", "FOLLOWING", "copies", ""))
        store.save_trade(_trade(1, "10.58", START))
        store.save_trade(_trade(2, "-1.25", START + 1, account="master", is_copy=False, reasons="time_exit"))
        store.record_signal(SignalRecord(SIG, "kraken", "ETH-USD", "buy", Decimal("105"), Decimal("2"),
                                         Decimal("210.4"), "MO1", 10_000.0, START - 60, master_client_order_id="t2"))
        # An open position whose first target sold half: that sale's P&L is realised, the rest is held at cost.
        store.save_position(PositionRecord("kraken", "alice", "SOL-USD", 20.0, Decimal("3"), Decimal("6"), 19.0, 19.0,
                                           1.0, START, cost_quote=Decimal("60.3"), trade_id="t3"))
        store.record_fill(FillRecord("order:s1", "kraken", "alice", "s1", "SOL-USD", "sell", Decimal("3"),
                                     Decimal("22"), Decimal("66"), Decimal("0.07"), realised_pnl=Decimal("5.63"),
                                     trade_id="t3", time=START))
    with ReadModel(path) as read:
        copy, master = read.trades()
        assert (copy.quantity, copy.entry_price, copy.exit_price, copy.fees, copy.realised_pnl) == (
            2.0, 105.0, 110.5, 0.42, 10.58)
        assert copy.return_pct == pytest.approx(100 * 10.58 / 210)
        assert copy.exit_reasons == ("first target", "stop") and master.exit_reasons == ("time exit",)
        assert (copy.entry_signal_id, master.entry_signal_id) == (SIG, SIG)  # paired by their entry
        [alice] = read.accounts(START)
        assert (alice.trades, alice.realised_pnl, alice.fees, alice.open_trip_pnl) == (1, 10.58, 0.42, 5.63)
        [position] = read.positions("kraken", "alice")
        assert (position.quantity, position.cost) == (3.0, 60.3)



def test_a_masters_trip_names_its_entry_signal_only_when_one_was_booked(tmp_path: Path) -> None:
    """Only a master with followers emits signals: another strategy account's trip names none (null in the API),
    however many trips are read at once."""
    path = tmp_path / "nija.sqlite3"
    with StateStore(path, clock=ManualClock(START)) as store:
        store.record_signal(SignalRecord(SIG, "kraken", "ETH-USD", "buy", Decimal("105"), Decimal("2"),
                                         Decimal("210.4"), "MO1", 10_000.0, START - 60, master_client_order_id="t2"))
        with store.transaction():
            for n in range(100, 701):
                store.save_trade(_trade(n, "1", START + n, account="solo", is_copy=False))
        store.save_trade(_trade(2, "-1.25", START + 1_000, account="master", is_copy=False))
    with ReadModel(path) as read:
        trades = read.trades()
        assert len(trades) == 602
        assert [t.entry_signal_id for t in trades if t.entry_signal_id is not None] == [SIG]
        assert trades[-1].trade_id == "t2" and trades[-1].entry_signal_id == SIG


def test_trades_booked_later_are_read_on_top_and_agree_with_a_fresh_read(tmp_path: Path) -> None:
    path = tmp_path / "nija.sqlite3"
    midnight = START - START % 86_400 + 86_400
    with StateStore(path, clock=ManualClock(START)) as store, ReadModel(path) as read:
        store.save_account_state(AccountStateRecord("kraken", "alice", "user", "FOLLOWING", "copies", ""))
        store.save_trade(_trade(1, "10", midnight - 10))  # yesterday
        assert [t.realised_pnl for t in read.trades()] == [10.0]
        store.save_trade(_trade(2, "-10", midnight + 10))  # today
        store.save_trade(_trade(3, "3", midnight - 5, symbol="SOL-USD"))  # booked late, closed yesterday
        assert [t.realised_pnl for t in read.trades()] == [10.0, -10.0, 3.0]
        [alice] = read.accounts(midnight + 100)
        assert (alice.trades, alice.realised_pnl, alice.realised_pnl_today) == (3, 3.0, -10.0)
        assert [t.trade_id for t in read.trades(since=midnight)] == ["t2"]
        with ReadModel(path) as fresh:
            assert fresh.trades() == read.trades()
            assert fresh.accounts(midnight + 100) == read.accounts(midnight + 100)


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
