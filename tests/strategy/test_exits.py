"""APEX exits at their exact prices: stop, targets in R (never percent vs fraction), trail, RSI, time."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bot.config.sections.strategy import StrategySettings
from bot.strategy.exits import ExitReason, Position, apply_exit, evaluate_exit
from bot.strategy.indicators import LastCandle

S = StrategySettings()
T0 = 1_700_000_000.0


def candle(close: float, *, rsi_slow: float = 55.0, ema_fast: float | None = None, atr: float = 1.0) -> LastCandle:
    return LastCandle(
        symbol="BTC-USD", time=T0, open=close, high=close, low=close, close=close, volume=1.0,
        rsi_fast=50.0, rsi_slow=rsi_slow, ema_fast=close - 0.5 if ema_fast is None else ema_fast,
        ema_mid=close, ema_slow=close, macd_hist=0.0, atr=atr, adx=25.0, volume_avg=1.0,
    )


@pytest.fixture
def position() -> Position:
    # entry 100, stop 98: R = 2, first target 102 (+1R), second 104 (+2R)
    return Position.open("BTC-USD", entry_price=100.0, quantity=1.0, stop_price=98.0, opened_at=T0)


def decide(position: Position, price: float, now: float = T0 + 60, last: LastCandle | None = None):
    return evaluate_exit(position, last or candle(price), now, S, price=price)


def test_first_target_fires_at_exactly_one_r(position: Position) -> None:
    assert position.risk_per_unit == 2.0
    hit = decide(position, 102.0)
    assert hit.reason is ExitReason.FIRST_TARGET
    assert hit.sell_fraction == 0.5 and hit.trigger_price == 102.0
    assert decide(position, math.nextafter(102.0, 0.0)).reason is ExitReason.HOLD


def test_percent_and_fraction_are_not_mixed(position: Position) -> None:
    """Old bug: a target kept in percent and compared as a fraction (or back) never fired."""
    assert decide(position, 101.0).reason is ExitReason.HOLD  # +1 % is not +1R here
    assert decide(position, 102.0).reason is ExitReason.FIRST_TARGET  # +1R = +2 % fires, not +100 %
    wide = Position.open("ETH-USD", entry_price=2_000.0, quantity=1.0, stop_price=1_900.0, opened_at=T0)
    assert evaluate_exit(wide, None, T0, S, price=2_100.0).reason is ExitReason.FIRST_TARGET
    assert evaluate_exit(wide, None, T0, S, price=2_099.99).reason is ExitReason.HOLD


def test_first_target_sells_half_and_moves_the_stop_to_break_even(position: Position) -> None:
    decision = decide(position, 102.5)
    after = apply_exit(position, decision, decision.sell_quantity(position))
    assert after is not None
    assert after.quantity == 0.5 and after.initial_quantity == 1.0
    assert after.first_target_hit and after.stop_price == 100.0
    assert decide(after, 103.99).reason is ExitReason.HOLD
    second = decide(after, 104.0)
    assert second.reason is ExitReason.SECOND_TARGET and second.sell_fraction == 1.0
    assert apply_exit(after, second, second.sell_quantity(after)) is None
    assert decide(after, 100.0).reason is ExitReason.BREAKEVEN_STOP


def test_a_refused_first_target_sale_changes_nothing(position: Position) -> None:
    decision = decide(position, 102.0)
    unchanged = apply_exit(position, decision, 0.0)
    assert unchanged is not None and not unchanged.first_target_hit and unchanged.stop_price == 98.0
    assert decide(unchanged, 102.0).reason is ExitReason.FIRST_TARGET  # tried again next pass


def test_stop_fires_at_its_price(position: Position) -> None:
    assert decide(position, 98.0).reason is ExitReason.STOP
    assert decide(position, 98.01).reason is ExitReason.HOLD
    # a candle whose low touched the stop (backtester) fires even though it closed above
    through = evaluate_exit(position, candle(99.0), T0 + 60, S, price=99.0, low=97.5, high=99.5)
    assert through.reason is ExitReason.STOP and through.trigger_price == 98.0


def test_trailing_stop_follows_the_highest_close_and_only_rises(position: Position) -> None:
    first = decide(position, 102.0)
    held = apply_exit(position, first, 0.5)
    assert held is not None
    up = evaluate_exit(held, candle(103.0, atr=1.0), T0 + 120, S, price=103.0)
    assert up.reason is ExitReason.HOLD
    assert up.highest_close == 103.0 and up.stop_price == pytest.approx(103.0 - 1.5)
    held = apply_exit(held, up, 0.0)
    assert held is not None
    down = evaluate_exit(held, candle(102.0, atr=1.0), T0 + 180, S, price=102.0)
    assert down.stop_price == pytest.approx(101.5)  # unchanged: a lower close never lowers the stop
    held = apply_exit(held, down, 0.0)
    assert held is not None
    trail = evaluate_exit(held, candle(101.4), T0 + 240, S, price=101.4)
    assert trail.reason is ExitReason.TRAILING_STOP and trail.sell_fraction == 1.0


def test_no_trailing_before_the_first_target(position: Position) -> None:
    decision = evaluate_exit(position, candle(101.5, atr=0.1), T0 + 60, S, price=101.5)
    assert decision.stop_price == 98.0 and decision.highest_close == 101.5


def test_rsi_overbought_under_ema_fast_sells_all(position: Position) -> None:
    hot = evaluate_exit(position, candle(101.0, rsi_slow=70.01, ema_fast=101.2), T0 + 60, S)
    assert hot.reason is ExitReason.RSI_OVERBOUGHT and hot.sell_fraction == 1.0
    at_level = evaluate_exit(position, candle(101.0, rsi_slow=70.0, ema_fast=101.2), T0 + 60, S)
    assert at_level.reason is ExitReason.HOLD
    above_ema = evaluate_exit(position, candle(101.0, rsi_slow=80.0, ema_fast=100.9), T0 + 60, S)
    assert above_ema.reason is ExitReason.HOLD


def test_time_exit_after_max_hold_hours(position: Position) -> None:
    assert decide(position, 100.5, now=T0 + 24 * 3600 - 1).reason is ExitReason.HOLD
    expired = decide(position, 100.5, now=T0 + 24 * 3600)
    assert expired.reason is ExitReason.TIME and expired.sell_fraction == 1.0
    short = StrategySettings(max_hold_hours=2)
    assert evaluate_exit(position, None, T0 + 7200, short, price=100.5).reason is ExitReason.TIME


def test_exits_work_on_a_price_alone_when_candles_are_unavailable(position: Position) -> None:
    assert evaluate_exit(position, None, T0 + 60, S, price=97.0).reason is ExitReason.STOP
    with pytest.raises(ValueError, match="needs a price"):
        evaluate_exit(position, None, T0 + 60, S)


def test_position_is_plain_frozen_data(position: Position) -> None:
    as_dict = dataclasses.asdict(position)
    assert Position(**as_dict) == position  # round-trips through a store as plain values
    with pytest.raises(dataclasses.FrozenInstanceError):
        position.stop_price = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="stop"):
        Position.open("BTC-USD", 100.0, 1.0, 100.0, T0)
