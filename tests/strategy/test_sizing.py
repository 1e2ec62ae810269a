"""Sizing: risk to the stop, clamped to 2-10 % of equity, never over free cash, never bumped to a minimum."""

from __future__ import annotations

import pytest

from bot.config.sections.strategy import StrategySettings
from bot.strategy.sizing import exit_quantity, size_entry

S = StrategySettings(risk_per_trade=0.01)  # 1 %: a 2 % stop asks for 50 % of equity, clamped to 10 %


def test_risk_to_the_stop_inside_the_clamp() -> None:
    s = StrategySettings(risk_per_trade=0.001)
    size = size_entry(1_000.0, 1_000.0, 100.0, 98.0, s)  # risk 1 USD over a 2 % stop = 50 USD
    assert size.notional == pytest.approx(50.0)
    assert size.base_qty == pytest.approx(0.5)
    assert size.notional * (100.0 - 98.0) / 100.0 == pytest.approx(1_000.0 * 0.001)  # loses exactly the risk


def test_the_default_risk_decides_the_size_of_wide_stops() -> None:
    """With the defaults (0.25 % risk, 10 % cap) the risk rule sizes every stop wider than 2.5 % (issue 14:
    at 1 % risk every entry hit the cap and the rule never decided a size)."""
    default = StrategySettings()
    assert size_entry(1_000.0, 1_000.0, 100.0, 98.0, default).notional == pytest.approx(100.0)  # 2 %: the cap
    assert size_entry(1_000.0, 1_000.0, 100.0, 96.0, default).notional == pytest.approx(62.5)  # 4 %: 2.5 / 0.04


def test_clamped_to_the_maximum_and_minimum_fraction_of_equity() -> None:
    assert size_entry(1_000.0, 1_000.0, 100.0, 98.0, S).notional == pytest.approx(100.0)  # 500 -> 10 %
    tiny_risk = StrategySettings(risk_per_trade=0.0001)
    assert size_entry(1_000.0, 1_000.0, 100.0, 95.0, tiny_risk).notional == pytest.approx(20.0)  # 2 -> 2 %


def test_never_more_than_free_cash_fees_included() -> None:
    size = size_entry(1_000.0, 30.0, 100.0, 98.0, S, fee_rate=0.006)
    assert size.notional == pytest.approx(30.0 / 1.006)
    assert size.notional * 1.006 <= 30.0 + 1e-9


def test_under_the_exchange_minimum_is_skipped_never_bumped() -> None:
    size = size_entry(5.0, 5.0, 100.0, 98.0, S, min_notional=1.0)  # 10 % of 5 USD = 0.50 < 1 USD
    assert size.skipped and size.notional == 0.0 and size.base_qty == 0.0
    assert "under the exchange minimum 1" in size.reason
    qty_min = size_entry(1_000.0, 1_000.0, 50_000.0, 49_000.0, S, min_base_qty=0.01)  # 100 USD = 0.002 BTC
    assert qty_min.skipped and "minimum 0.01" in qty_min.reason


def test_quantity_is_floored_to_the_lot_precision() -> None:
    size = size_entry(1_000.0, 1_000.0, 30.0, 29.0, S, base_decimals=2)  # 100 / 30 = 3.333.. -> 3.33
    assert size.base_qty == 3.33
    assert size.notional == pytest.approx(3.33 * 30.0)


@pytest.mark.parametrize(("equity", "stop"), [(0.0, 98.0), (1_000.0, 100.0), (1_000.0, 101.0)])
def test_nonsense_inputs_are_skipped_with_a_reason(equity: float, stop: float) -> None:
    assert size_entry(equity, 1_000.0, 100.0, stop, S).skipped


def test_exit_quantity_never_leaves_unsellable_dust() -> None:
    assert exit_quantity(1.0, 0.5, 100.0, min_notional=1.0) == (0.5, "")
    # half of 0.015 at 100 = 0.75 USD < 1 USD minimum: sell everything instead
    assert exit_quantity(0.015, 0.5, 100.0, min_notional=1.0) == (0.015, "")
    # selling 80 % would leave 0.0050 at 100 = 0.50 USD, under a 0.51 USD minimum: sell everything
    assert exit_quantity(0.0249, 0.8, 100.0, min_notional=0.51, base_decimals=4) == (0.0249, "")
    qty, reason = exit_quantity(0.005, 1.0, 100.0, min_notional=1.0)
    assert qty == 0.0 and "cannot sell" in reason
