"""Position arithmetic on exact amounts: one set of pure functions that every booking uses.

Quantities and money are ``Decimal`` from the exchange's answer to the store (docs/rules.md §8);
nothing here touches float, so ``0.00124158 - 0.00062078`` is ``0.00062080``, not
``0.0006207999999999999``. Average cost: a position's ``cost`` is the quote paid for what is
held, fees included; a sale takes its share of that cost, and realised P&L is what the sale
brought in (fees out) minus that share. Prices for the strategy (entry, stops) stay floats and
are kept by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

from bot.brokers.amounts import ZERO, floor_to, to_decimal
from bot.strategy.sizing import minimum_violation

ONE = Decimal(1)
#: places kept for amounts this module divides (a share of a cost); sums of exchange amounts stay exact
MONEY_PLACES = Decimal(1).scaleb(-12)


def exact(value: object) -> Decimal:
    """An amount as Decimal (the broker boundary's reading: a float by its shortest repr); None is refused."""
    if value is None:
        raise TypeError("not an amount: None")
    return to_decimal(value, default=None)


class Executed(Protocol):
    """What one order did to the account's holdings (``OrderResult`` and ``FillRecord`` both say it):
    ``base_delta`` the signed change of the base holding (net of a fee taken in the asset),
    ``quote_delta`` the signed change of the quote holding (fees included)."""

    @property
    def base_delta(self) -> Decimal: ...

    @property
    def quote_delta(self) -> Decimal: ...


@dataclass(frozen=True)
class Holding:
    """The exact part of one position: base held and the quote it cost (fees included)."""

    quantity: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def is_flat(self) -> bool:
        return self.quantity <= 0


def buy(holding: Holding, fill: Executed) -> Holding:
    """Open or average in: what the account received joins the holding at what it paid."""
    if fill.base_delta < 0 or fill.quote_delta > 0:
        raise ValueError("buy() books a buy: base in, quote out")
    return Holding(holding.quantity + fill.base_delta, holding.cost - fill.quote_delta)


@dataclass(frozen=True)
class Sale:
    """A sale booked against a holding: what is left, and the realised P&L of the part sold."""

    remaining: Holding
    sold: Decimal  # base taken off the holding (clamped to what was booked)
    realised_pnl: Decimal
    cost_of_sold: Decimal


def sell(holding: Holding, fill: Executed) -> Sale:
    """Reduce by what left the account, clamped to the booked holding; P&L by average cost."""
    if fill.base_delta > 0:
        raise ValueError("sell() books a sale: base out")
    leaving = -fill.base_delta
    sold = min(leaving, holding.quantity) if holding.quantity > 0 else ZERO
    if sold >= holding.quantity:
        cost_of_sold = holding.cost
    elif sold > 0:
        cost_of_sold = (holding.cost * sold / holding.quantity).quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)
    else:
        cost_of_sold = ZERO
    # Proceeds of the booked part only: coins sold beyond the booked holding were not the bot's position.
    proceeds = fill.quote_delta if leaving <= sold or leaving <= 0 else (
        fill.quote_delta * sold / leaving).quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)
    remaining = Holding(holding.quantity - sold, holding.cost - cost_of_sold)
    return Sale(remaining, sold, proceeds - cost_of_sold, cost_of_sold)


def average_price(holding_quantity: Decimal, holding_price: Decimal, added: Decimal, price: Decimal) -> Decimal:
    """Volume-weighted price after adding `added` at `price` (a copy averaging in)."""
    total = holding_quantity + added
    if total <= 0:
        return price
    return (holding_quantity * holding_price + added * price) / total


def is_dust(quantity: Decimal, price: Decimal, min_base_qty: Decimal, min_notional: Decimal) -> bool:
    """A holding too small to ever be sold: the position it belongs to is closed, not kept open forever."""
    return quantity > 0 and bool(minimum_violation(quantity, price, min_base_qty, min_notional))


def sale_quantity(
    booked: Decimal,
    available: Decimal,
    fraction: Decimal,
    *,
    price: Decimal,
    lot_decimals: int,
    min_base_qty: Decimal = ZERO,
    min_notional: Decimal = ZERO,
) -> tuple[Decimal, str]:
    """(quantity to sell, '') for selling `fraction` of a booked position, or (0, reason).

    Never more than is booked nor more than the exchange says is available. A full sale sells
    exactly the booked position (clamped), so nothing is left behind by rounding. A part sale
    that would leave, or itself be, under the exchange minimum sells everything instead.
    """
    whole = floor_to(max(min(booked, available), ZERO), lot_decimals)
    part = whole if fraction >= ONE else min(floor_to(booked * fraction, lot_decimals), whole)
    if part < whole and (
        minimum_violation(part, price, min_base_qty, min_notional)
        or minimum_violation(floor_to(booked - part, lot_decimals), price, min_base_qty, min_notional)
    ):
        part = whole
    problem = minimum_violation(part, price, min_base_qty, min_notional)
    if problem:
        return ZERO, f"cannot sell: {problem}"
    return part, ""


def fraction_sold(sold: Decimal, before: Decimal) -> Decimal:
    """The share of a position a sale removed, at most 1 (a sale of everything booked is 1)."""
    if before <= 0 or sold >= before:
        return ONE
    return sold / before

