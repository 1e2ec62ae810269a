"""Exits are planned for every open position whatever blocks entries (old bug: exits ran only in the entry scan)."""

from __future__ import annotations

import pytest

from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import EntrySignal
from bot.strategy.exits import ExitReason, Position
from bot.strategy.plan import plan_entries, plan_exits
from bot.strategy.sizing import size_entry

S = StrategySettings()
T0 = 1_700_000_000.0
SYMBOLS = [f"C{i}-USD" for i in range(8)]


def positions() -> list[Position]:
    return [Position.open(sym, 100.0, 1.0, 98.0, T0) for sym in SYMBOLS]


def signal(symbol: str) -> EntrySignal:
    return EntrySignal(symbol, T0, 50.0, 49.0, 0.5, 0.75, ("test",))


# price per symbol: one under its stop, one at its first target, one past 24 h by time; the rest hold
PRICES = {sym: 100.5 for sym in SYMBOLS} | {"C0-USD": 97.0, "C1-USD": 102.0}


@pytest.mark.parametrize("gate", ["position cap", "ENTRY_BLOCKING", "low balance"])
def test_exits_fire_whatever_the_entry_gate(gate: str) -> None:
    open_positions = positions() if gate == "position cap" else positions()[:2]
    entry_blocking = gate == "ENTRY_BLOCKING"
    free_cash = 0.0 if gate == "low balance" else 10_000.0

    plan = plan_entries([signal("NEW-USD")], [p.symbol for p in open_positions],
                        max_positions=len(SYMBOLS), entry_blocking=entry_blocking, strategy=S, fee_rates=0.0)
    sized = size_entry(10_000.0, free_cash, 50.0, 49.0, S, min_notional=1.0)
    entries_possible = bool(plan.entries) and not sized.skipped
    assert not entries_possible  # the gate does block entries...

    decisions = {d.symbol: d for d in plan_exits(open_positions, {}, T0 + 60, S, prices=PRICES, fee_rates=0.006)}
    assert len(decisions) == len(open_positions)  # ...and every position was still evaluated
    assert decisions["C0-USD"].reason is ExitReason.STOP
    assert decisions["C1-USD"].reason is ExitReason.FIRST_TARGET
    late = {d.symbol: d for d in plan_exits(open_positions, {}, T0 + 24 * 3600, S, prices=PRICES, fee_rates=0.006)}
    assert all(d.sells for d in late.values())


def test_entry_gates_give_reasons_and_respect_one_position_per_symbol() -> None:
    held = ["C0-USD", "C1-USD"]
    plan = plan_entries([signal("C0-USD"), signal("NEW-USD"), signal("OTHER-USD")], held,
                        max_positions=3, entry_blocking=False, strategy=S, fee_rates=0.0)
    assert [s.symbol for s in plan.entries] == ["NEW-USD"]
    reasons = dict(plan.skipped)
    assert "one position per symbol" in reasons["C0-USD"]
    assert "MAX_CONCURRENT_POSITIONS" in reasons["OTHER-USD"]
    blocked = plan_entries([signal("NEW-USD")], [], max_positions=8, entry_blocking=True, strategy=S, fee_rates=0.0)
    assert not blocked.entries and "ENTRY_BLOCKING" in blocked.skipped[0][1]


def test_confidence_decides_who_gets_a_short_slot_and_who_is_sized_first() -> None:
    """Issue 14: the score must rank competing signals when slots or cash are short."""
    weak = EntrySignal("AAA-USD", T0, 50.0, 49.0, 0.5, 0.76, ("test",))  # first by name, weaker
    strong = EntrySignal("ZZZ-USD", T0, 50.0, 49.0, 0.5, 0.93, ("test",))
    one_slot = plan_entries([weak, strong], ["C0-USD"], max_positions=2, entry_blocking=False, strategy=S,
                            fee_rates=0.006)
    assert [s.symbol for s in one_slot.entries] == ["ZZZ-USD"]
    assert one_slot.skipped == (("AAA-USD", "at MAX_CONCURRENT_POSITIONS (2)"),)
    both = plan_entries([weak, strong], [], max_positions=8, entry_blocking=False, strategy=S, fee_rates=0.006)
    assert [s.symbol for s in both.entries] == ["ZZZ-USD", "AAA-USD"]  # the caller sizes in this order
    cash = 105.0  # enough for one 10 % entry of a 1,000 USD account, not two
    first, second = (size_entry(1_000.0, cash - spent, s.price, s.stop_price, S)
                     for s, spent in zip(both.entries, (0.0, 100.0), strict=True))
    assert first.notional == pytest.approx(100.0) and second.notional < first.notional
