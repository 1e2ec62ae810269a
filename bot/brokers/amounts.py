"""Exact amounts at the broker boundary: exchange decimal strings in, Decimal out, plain strings back.

Every venue sends quantities, prices and money as decimal strings ("0.00062078", "45268470").
They are parsed straight into ``decimal.Decimal`` (never through float, which cannot hold most of
them exactly) and formatted back without an exponent when an order is sent. Quantities are always
cut (rounded down) to the venue's step: an order must never ask for more than was decided.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

ZERO = Decimal(0)


class AmountError(ValueError):
    """An exchange sent something that is not a finite decimal number where one was expected."""


def to_decimal(value: object, *, default: Decimal | None = ZERO) -> Decimal:
    """An exchange's number as an exact Decimal.

    Strings and ints are exact. A float (some SDK models turn a JSON number into one) is taken by its
    shortest repr, which is the decimal text the exchange sent whenever it had at most 15 significant
    digits. None and "" give `default` (an AmountError when default is None).
    """
    if isinstance(value, Decimal):
        parsed = value
    elif value is None or value == "":
        if default is None:
            raise AmountError("missing amount")
        return default
    elif isinstance(value, bool):
        raise AmountError(f"not an amount: {value!r}")
    elif isinstance(value, int):
        parsed = Decimal(value)
    elif isinstance(value, float):
        parsed = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise AmountError(f"not a decimal number: {value[:40]!r}") from None
    else:
        raise AmountError(f"not an amount: {type(value).__name__}")
    if not parsed.is_finite():
        raise AmountError(f"not a finite amount: {value!r}")
    return parsed


def step(decimals: int) -> Decimal:
    """The smallest increment at this many decimals: 8 -> 0.00000001, 0 -> 1."""
    return Decimal(1).scaleb(-decimals)


def floor_to(value: Decimal, decimals: int) -> Decimal:
    """Cut down to `decimals` places (never up: never more than was decided)."""
    return value.quantize(step(decimals), rounding=ROUND_DOWN)


def round_half_up(value: Decimal, decimals: int) -> Decimal:
    """Round to `decimals` places, halves away from zero (how venues round a computed fee)."""
    return value.quantize(step(decimals), rounding=ROUND_HALF_UP)


def decimals_of(increment: object, default: int = 8) -> int:
    """Places of an increment: "0.00000001" -> 8, "0.01" -> 2, "1" -> 0, "10" -> 0; empty -> default."""
    if increment is None or increment == "" or increment == 0:
        return default
    exponent = to_decimal(increment).normalize().as_tuple().exponent
    return max(-int(exponent), 0)


def plain(value: Decimal, decimals: int | None = None) -> str:
    """A decimal string without exponent or trailing zeros, cut to `decimals` places when given.

    ``plain(Decimal("45268470"))`` is "45268470" (whole numbers keep their zeros);
    ``plain(Decimal("0.000620800"), 8)`` is "0.0006208".
    """
    if decimals is not None:
        value = floor_to(value, decimals)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
