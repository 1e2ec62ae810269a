"""The taker fee is part of the plan (issue 14): the stop floor and the first target clear the round trip by
FEE_MARGIN, an entry that cannot is skipped with the reason, and break-even pays both fees."""

from __future__ import annotations

import pytest

from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import EntrySignal
from bot.strategy.exits import ExitReason, Position, apply_exit, evaluate_exit
from bot.strategy.fees import FEE_SKIP, breakeven_price, round_trip, with_fees
from bot.strategy.plan import plan_entries, plan_exits

S = StrategySettings()
T0 = 1_700_000_000.0
COINBASE = 0.006


def signal(symbol: str = "ETH-USD", price: float = 100.0, stop: float = 99.2, confidence: float = 0.8) -> EntrySignal:
    return EntrySignal(symbol, T0, price, stop, 0.5, confidence, ("test",))


def test_round_trip_and_break_even_pay_both_fees() -> None:
    assert round_trip(0.0) == 0.0
    assert round_trip(COINBASE) == pytest.approx(1.006 / 0.994 - 1)  # 1.207 %, not 1.2 %
    be = breakeven_price(100.0, COINBASE)
    bought = 1.0 * 100.0 * (1 + COINBASE)
    assert be * (1 - COINBASE) == pytest.approx(bought)  # selling 1 unit there gives back exactly what it cost


def test_the_stop_floor_is_raised_to_clear_the_round_trip_by_the_margin() -> None:
    """Issue 14: 27 of 43 15m signals used the 0.8 % floor under Coinbase's 1.2 % round trip."""
    planned = with_fees(signal(stop=99.2), COINBASE, S)  # the plain 0.8 % floor
    assert isinstance(planned, EntrySignal)
    need = round_trip(COINBASE) + S.fee_margin
    assert 100.0 - planned.stop_price == pytest.approx(100.0 * need)
    assert planned.first_target_price == pytest.approx(100.0 * (1 + need))  # +1R clears fees + margin
    assert planned.breakeven_price == pytest.approx(breakeven_price(100.0, COINBASE))
    assert planned.first_target_price > planned.breakeven_price
    wide = with_fees(signal(stop=97.0), COINBASE, S)  # a 3 % ATR stop is already wide enough: unchanged
    assert isinstance(wide, EntrySignal) and wide.stop_price == 97.0
    free = with_fees(signal(stop=99.2), 0.0, S)  # no fee (Alpaca stocks): only the margin, under the 0.8 % floor
    assert isinstance(free, EntrySignal) and free.stop_price == 99.2


def test_an_entry_whose_first_target_cannot_clear_the_fees_is_skipped_with_the_reason() -> None:
    capped = StrategySettings(stop_max_fraction=0.01)  # the stop may not widen to the 1.41 % the fees need
    reason = with_fees(signal(stop=99.2), COINBASE, capped)
    assert isinstance(reason, str) and reason.startswith(FEE_SKIP)
    assert "1.21 % round trip" in reason and "0.20 % margin" in reason
    short_target = StrategySettings(first_target_r=0.5)  # +0.5R never clears what 1R only just clears
    assert isinstance(with_fees(signal(stop=99.2), COINBASE, short_target), str)
    plan = plan_entries([signal("A-USD"), signal("B-USD")], [], max_positions=8, entry_blocking=False,
                        strategy=capped, fee_rates={"A-USD": COINBASE, "B-USD": 0.0025})  # B: Alpaca's fee
    assert [s.symbol for s in plan.entries] == ["B-USD"]
    assert plan.skipped[0][0] == "A-USD" and plan.skipped[0][1].startswith(FEE_SKIP)


def test_a_fee_skip_takes_no_slot_and_every_symbol_needs_its_fee() -> None:
    plan = plan_entries([signal("A-USD", confidence=0.9), signal("B-USD", confidence=0.8)], [], max_positions=1,
                        entry_blocking=False, strategy=StrategySettings(first_target_r=0.5),
                        fee_rates={"A-USD": COINBASE, "B-USD": 0.0})
    assert [s.symbol for s in plan.entries] == ["B-USD"]  # A (stronger, but cannot pay its fees) left the slot
    with pytest.raises(KeyError, match="no taker fee given for B-USD"):
        plan_entries([signal("B-USD")], [], max_positions=1, entry_blocking=False, strategy=S,
                     fee_rates={"A-USD": COINBASE})


def test_break_even_after_the_first_target_is_the_fee_break_even() -> None:
    """Issue 14: the break-even exit lost the round trip by construction."""
    position = Position.open("ETH-USD", 100.0, 1.0, 98.0, T0)
    first = evaluate_exit(position, None, T0 + 60, S, price=102.0, fee_rate=COINBASE)
    assert first.reason is ExitReason.FIRST_TARGET
    after = apply_exit(position, first, 0.5)
    assert after is not None and after.stop_price == pytest.approx(breakeven_price(100.0, COINBASE))
    hit = evaluate_exit(after, None, T0 + 120, S, price=after.stop_price, fee_rate=COINBASE)
    assert hit.reason is ExitReason.BREAKEVEN_STOP  # not mistaken for a trailing stop although above entry
    assert hit.trigger_price * (1 - COINBASE) * 0.5 == pytest.approx(0.5 * 100.0 * (1 + COINBASE))  # no loss
    refused = apply_exit(position, first, 0.0)  # the sale did not happen: the stop stays where it was
    assert refused is not None and refused.stop_price == 98.0
    no_fee = apply_exit(position, evaluate_exit(position, None, T0 + 60, S, price=102.0), 0.5)
    assert no_fee is not None and no_fee.stop_price == 100.0


def test_plan_exits_uses_each_symbols_fee() -> None:
    positions = [Position.open(sym, 100.0, 1.0, 98.0, T0) for sym in ("A-USD", "B-USD")]
    decisions = plan_exits(positions, {}, T0 + 60, S, {"A-USD": 102.0, "B-USD": 102.0},
                           fee_rates={"A-USD": COINBASE, "B-USD": 0.0})
    assert [d.breakeven_price for d in decisions] == pytest.approx([breakeven_price(100.0, COINBASE), 100.0])
