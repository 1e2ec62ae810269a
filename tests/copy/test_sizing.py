"""Copy sizing (docs/rules.md §5): equity ratio, multiplier, caps, exits as a fraction of the own position."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.brokers.base import OrderResult, OrderStatus, Side
from bot.copy.sizing import EntryCap, follower_entry_notional, follower_exit_quantity
from bot.execution.ids import signal_id_for


def test_entry_is_master_notional_times_equity_ratio_times_multiplier() -> None:
    size = follower_entry_notional(
        master_notional=500.0, master_equity=10_000.0, follower_equity=2_000.0,
        follower_free_cash=2_000.0, risk_multiplier=1.5, max_user_risk=0.10,
    )
    assert size.notional == pytest.approx(150.0)
    assert size.uncapped_notional == pytest.approx(150.0)
    assert size.cap is EntryCap.NONE


def test_entry_capped_at_max_user_risk_of_follower_equity() -> None:
    size = follower_entry_notional(2_000.0, 10_000.0, 2_500.0, 2_500.0, 1.0, 0.10)
    assert size.uncapped_notional == pytest.approx(500.0)
    assert size.notional == pytest.approx(250.0)
    assert size.cap is EntryCap.MAX_USER_RISK
    assert "MAX_USER_RISK" in size.reason


def test_entry_capped_at_free_cash_when_that_is_lower() -> None:
    size = follower_entry_notional(2_000.0, 10_000.0, 2_500.0, 120.0, 1.0, 0.10)
    assert size.notional == pytest.approx(120.0)
    assert size.cap is EntryCap.FREE_CASH


def test_no_master_equity_or_follower_equity_gives_zero_with_the_reason() -> None:
    assert follower_entry_notional(100.0, 0.0, 500.0, 500.0, 1.0, 0.1).cap is EntryCap.NO_MASTER_EQUITY
    none = follower_entry_notional(100.0, 1000.0, 0.0, 0.0, 1.0, 0.1)
    assert none.notional == 0.0 and none.cap is EntryCap.NO_FOLLOWER_EQUITY


def test_negative_or_nan_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="master_notional"):
        follower_entry_notional(-1.0, 1000.0, 100.0, 100.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="risk_multiplier"):
        follower_entry_notional(1.0, 1000.0, 100.0, 100.0, float("nan"), 0.1)


def test_old_bot_base_quantity_read_as_usd_bug_is_absent() -> None:
    """The old bot logged "$8.46 order capped from $4,757.31": a base quantity of a cheap coin
    (4,757.31 units) went into a USD cap. The ledger takes a signal's notional from the exchange's quote
    amounts (what the master spent, fee included), and sizing sees USD only."""
    fill = OrderResult(
        client_order_id="c1", symbol="DOGE-USD", side=Side.BUY, status=OrderStatus.FILLED,
        exchange_order_id="O-1", filled_base=Decimal("4757.31"), avg_price=Decimal("0.08"),
        filled_quote=Decimal("380.5848"), fee_quote=Decimal("0.99"), time=1.0,
    )
    spent = -fill.quote_delta
    assert spent == Decimal("4757.31") * Decimal("0.08") + Decimal("0.99")
    # Follower with 84.60 equity: 381.57 x 84.6 / 1000 = 32.28, capped at 10 % of 84.60 = 8.46 USD.
    size = follower_entry_notional(float(spent), 1_000.0, 84.60, 84.60, 1.0, 0.10)
    assert size.notional == pytest.approx(8.46)
    assert size.uncapped_notional == pytest.approx(32.2808, rel=1e-4)
    assert "4757" not in size.reason and "4,757" not in size.reason


def test_exit_sells_same_fraction_of_followers_own_position() -> None:
    assert follower_exit_quantity(0.5, 0.3) == pytest.approx(0.15)
    assert follower_exit_quantity(0.25, 8.0) == pytest.approx(2.0)


def test_full_master_close_sells_the_whole_follower_position() -> None:
    assert follower_exit_quantity(1.0, 0.123456789) == 0.123456789
    assert follower_exit_quantity(1.0 - 1e-12, 7.5) == 7.5


def test_exit_leaving_unsellable_dust_sells_everything() -> None:
    assert follower_exit_quantity(0.9, 1.0, min_remaining_quantity=0.2) == 1.0
    assert follower_exit_quantity(0.5, 1.0, min_remaining_quantity=0.2) == pytest.approx(0.5)


def test_exit_with_no_position_sells_nothing() -> None:
    assert follower_exit_quantity(0.5, 0.0) == 0.0


def test_exit_not_sized_like_an_entry() -> None:
    """Old bug: exits sized like entries left followers holding coins. The exit ignores notionals entirely."""
    follower_qty = 3.0
    assert follower_exit_quantity(1.0, follower_qty) == follower_qty


def test_signal_ids_are_deterministic_per_master_order() -> None:
    """Known before the master's order is sent, so booking it after a crash recreates the same signal."""
    assert signal_id_for("kraken", "coid-1") == signal_id_for("kraken", "coid-1")
    assert signal_id_for("kraken", "coid-1") != signal_id_for("coinbase", "coid-1")
    assert signal_id_for("kraken", "coid-1") != signal_id_for("kraken", "coid-2")


money = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(money, money, money, money, st.floats(0.0, 5.0), st.floats(0.001, 1.0))
def test_entry_never_exceeds_any_cap(
    master_notional: float, master_equity: float, equity: float, cash: float, multiplier: float, max_risk: float
) -> None:
    size = follower_entry_notional(master_notional, master_equity, equity, cash, multiplier, max_risk)
    assert 0.0 <= size.notional <= size.uncapped_notional + 1e-9
    assert size.notional <= max_risk * equity * (1 + 1e-12) + 1e-9
    assert size.notional <= cash + 1e-9


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1e6), st.floats(0.0, 10.0))
def test_exit_never_sells_more_than_the_follower_holds(fraction: float, held: float, minimum: float) -> None:
    sold = follower_exit_quantity(fraction, held, minimum)
    assert 0.0 <= sold <= held
    if fraction >= 1.0:
        assert sold == held
