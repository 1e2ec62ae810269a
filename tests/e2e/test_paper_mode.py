"""Paper mode end to end (issue 5): a seeded market, a Kraken master and two followers on the simulator,
real adapters over HTTP, worker threads stepped by a ManualClock. The master trades, every follower copies
each master fill with the SPEC sizes, and the store agrees with the simulator to the cent."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from bot.state.records import CopyStatus
from bot.state.store import StateStore
from tests.e2e.conftest import PaperRun

HOURS = 3600.0
CENT = 0.005  # "to the cent": rounding to cents gives the same figure


def usd_from_fills(store: StateStore, broker: str, account_id: str, start: float) -> float:
    """Cash the store's own fills say the account has: start - buys (cost + fee) + sells (proceeds - fee)."""
    cash = start
    for fill in store.fills(broker, account_id):
        value = fill.base_qty * fill.price
        cash += -(value + fill.fee_quote) if fill.side == "buy" else value - fill.fee_quote
    return cash


def held_from_fills(store: StateStore, broker: str, account_id: str) -> dict[str, float]:
    held: dict[str, float] = {}
    for fill in store.fills(broker, account_id):
        base = fill.symbol.split("-")[0]
        held[base] = held.get(base, 0.0) + (fill.base_qty if fill.side == "buy" else -fill.base_qty)
    return held


@pytest.fixture
def traded(paper_factory: Callable[..., PaperRun]) -> PaperRun:
    run = paper_factory()
    run.trader.start()
    run.run_for(12 * HOURS)
    assert run.trader.stop() == []
    run.trader.print_summary()
    return run


def test_master_trades_and_followers_copy_each_fill_with_spec_sizes(traded: PaperRun) -> None:
    store = traded.store
    master_fills = store.fills("kraken", "master")
    buys = [f for f in master_fills if f.side == "buy"]
    sells = [f for f in master_fills if f.side == "sell"]
    assert buys and sells, "the master made no round trip in 12 simulated hours"
    signals = store.signals("kraken")
    # one signal per master fill, entries and exits alike
    assert sorted(s.master_client_order_id for s in signals) == sorted(f.client_order_id for f in master_fills)
    assert all(s.status == "done" for s in signals)
    followers = {"demo_user_1": 2500.0, "demo_user_2": 400.0}
    for follower in followers:
        events = {e.signal_id: e for e in store.copy_events(broker="kraken", follower_id=follower)}
        assert set(events) == {s.signal_id for s in signals}, f"{follower} missed or repeated a signal"
        assert all(e.status in (CopyStatus.FILLED, CopyStatus.SKIPPED) for e in events.values())
        assert any(e.status is CopyStatus.FILLED for e in events.values())
    # The first entry: the followers hold only cash, so their equity is exactly their deposit.
    first = signals[0]
    assert first.side == "buy"
    for follower, equity in followers.items():
        event = store.get_copy(first.signal_id, follower)
        assert event is not None and event.status is CopyStatus.FILLED
        spec = first.quote_notional * equity / first.master_equity * 1.0
        expected = min(spec, 0.10 * equity, equity)
        assert event.requested_quote == pytest.approx(expected, abs=0.01), event.reason
    # Exits: each follower sells the fraction of ITS OWN position the master sold.
    for signal in (s for s in signals if s.side == "sell"):
        for follower in followers:
            event = store.get_copy(signal.signal_id, follower)
            assert event is not None
            if event.status is CopyStatus.FILLED and signal.fraction_sold == 1.0:
                position = store.get_position("kraken", follower, signal.symbol)
                bought_after = [s for s in signals if s.symbol == signal.symbol and s.time > signal.time]
                assert position is None or bought_after


def test_store_agrees_with_the_simulator_to_the_cent(traded: PaperRun) -> None:
    store, exchange = traded.store, traded.session.exchange
    starts = {"master": 10_000.0, "demo_user_1": 2500.0, "demo_user_2": 400.0}
    for account_id, start in starts.items():
        balances = exchange.balances(f"kraken-{account_id}")
        sim_usd = balances["USD"].total
        assert math.isclose(usd_from_fills(store, "kraken", account_id, start), sim_usd, abs_tol=CENT), account_id
        state = store.get_account_state("kraken", account_id)
        assert state is not None and abs(state.cash - balances["USD"].available) <= CENT
        held = held_from_fills(store, "kraken", account_id)
        positions = {p.symbol.split("-")[0]: p.quantity for p in store.positions("kraken", account_id)}
        for asset, balance in balances.items():
            if asset == "USD":
                continue
            assert held.get(asset, 0.0) == pytest.approx(balance.total, abs=1e-9), (account_id, asset)
            assert positions.get(asset, 0.0) == pytest.approx(balance.total, abs=1e-9), (account_id, asset)


def test_followers_positions_carry_their_own_stop_and_never_open_alone(traded: PaperRun) -> None:
    store = traded.store
    for follower in ("demo_user_1", "demo_user_2"):
        for position in store.positions("kraken", follower):
            assert position.is_copy and 0 < position.stop_price < position.entry_price
        orders = store.orders("kraken", follower)
        assert orders and all(o.purpose in ("copy_entry", "copy_exit", "guard_exit") for o in orders)


def test_newcomer_sees_the_table_and_the_final_summary(traded: PaperRun) -> None:
    text = traded.out.getvalue()
    assert "accounts at start-up" in text
    for label in ("kraken:master", "kraken:demo_user_1", "kraken:demo_user_2"):
        assert label in text
    assert "TRADING" in text and "FOLLOWING" in text
    summary = text[text.index("final summary per account"):]
    assert "kraken:demo_user_2" in summary and "P&L" in summary
