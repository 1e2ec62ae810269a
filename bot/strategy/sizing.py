"""Position sizing for accounts that run the strategy (docs/rules.md §4), and sell quantities for exits.

Risk `risk_per_trade` of equity to the stop, clamped to position_min_fraction..position_max_fraction
of equity, never more than free cash (fees included). An order under the exchange minimum is
skipped with a reason, never bumped up. Sizing does not look at ADX: the one ADX gate is the
entry rule's `adx_min` (the old bot had a gate of 10 in one place and a sizer returning zero
under 20 in another). Exchange rules come in as plain numbers so this module knows no broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from bot.config.sections.strategy import StrategySettings
from bot.lots import floor_to_lot


@dataclass(frozen=True)
class EntrySize:
    """notional (quote) and base_qty to buy, or zero with the reason it is skipped."""

    notional: float
    base_qty: float
    reason: str = ""

    @property
    def skipped(self) -> bool:
        return bool(self.reason)


def floor_to_decimals(qty: float, decimals: int | None) -> float:
    """Round a quantity down to the lot precision (never up: never spend or sell more than allowed)."""
    if decimals is None:
        return max(qty, 0.0)
    return floor_to_lot(qty, decimals)


Amount = TypeVar("Amount", float, Decimal)  # floats in the strategy and the backtest, Decimals in the ledger


def minimum_violation(base_qty: Amount, price: Amount, min_base_qty: Amount, min_notional: Amount) -> str:
    """Why the exchange would refuse an order this small, or '' when it is fine (the same rule for the backtest
    and the live ledger)."""
    if base_qty <= 0:
        return "quantity rounds to zero"
    if base_qty < min_base_qty:
        return f"quantity {base_qty:g} is under the exchange minimum {min_base_qty:g}"
    if base_qty * price < min_notional:
        return f"order value {base_qty * price:.2f} is under the exchange minimum {min_notional:g}"
    return ""


def size_entry(
    equity: float,
    free_cash: float,
    entry_price: float,
    stop_price: float,
    s: StrategySettings,
    *,
    min_notional: float = 0.0,
    min_base_qty: float = 0.0,
    base_decimals: int | None = None,
    fee_rate: float = 0.0,
) -> EntrySize:
    """How much to buy for an entry at `entry_price` with its stop at `stop_price`."""
    if equity <= 0:
        return EntrySize(0.0, 0.0, f"equity {equity:.2f} is not positive")
    if not 0 < stop_price < entry_price:
        return EntrySize(0.0, 0.0, f"stop {stop_price:g} is not below the entry price {entry_price:g}")
    stop_fraction = (entry_price - stop_price) / entry_price
    notional = equity * s.risk_per_trade / stop_fraction
    notional = min(max(notional, equity * s.position_min_fraction), equity * s.position_max_fraction)
    cash_cap = max(free_cash, 0.0) / (1.0 + fee_rate)
    notional = min(notional, cash_cap)
    qty = floor_to_decimals(notional / entry_price, base_decimals)
    problem = minimum_violation(qty, entry_price, min_base_qty, min_notional)
    if problem:
        why = f"free cash {free_cash:.2f}" if cash_cap < equity * s.position_min_fraction else "sized to risk"
        return EntrySize(0.0, 0.0, f"skipped: {problem} ({why})")
    return EntrySize(qty * entry_price, qty, "")


def exit_quantity(
    held: float,
    fraction: float,
    price: float,
    *,
    min_notional: float = 0.0,
    min_base_qty: float = 0.0,
    base_decimals: int | None = None,
) -> tuple[float, str]:
    """(quantity to sell, '') for selling `fraction` of `held`, or (0, reason) when nothing can be sold.

    A part sale that would leave (or itself be) less than the exchange minimum sells everything
    instead, so no unsellable dust is left behind.
    """
    whole = floor_to_decimals(held, base_decimals)
    qty = whole if fraction >= 1 else floor_to_decimals(held * fraction, base_decimals)
    if qty < whole:
        rest = held - qty
        if minimum_violation(qty, price, min_base_qty, min_notional) or minimum_violation(
            floor_to_decimals(rest, base_decimals), price, min_base_qty, min_notional
        ):
            qty = whole
    problem = minimum_violation(qty, price, min_base_qty, min_notional)
    if problem:
        return 0.0, f"cannot sell: {problem}"
    return qty, ""
