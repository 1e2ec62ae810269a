"""Float quantities to exact amounts, without inventing dust out of binary arithmetic.

Positions are still stored as floats (issue 10 moves them to Decimal): 3182.07873137 - 1591.03936568 is
1591.03936568999... in binary, and its shortest repr floored to 8 decimals makes a "sell everything" leave one
lot (1e-8) behind on the exchange while the store closes the position. A double holds 15 significant decimal
digits reliably, so that is how much of a float is taken as its decimal value; the rest is binary noise.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

FLOAT_DIGITS = 15  # significant decimal digits a double always holds exactly


def decimal_amount(value: float) -> Decimal:
    """The decimal a float quantity stands for: 1591.03936568999... -> 1591.03936569, 0.1 -> 0.1."""
    return Decimal(format(value, f".{FLOAT_DIGITS}g"))


def floor_to_lot(qty: float, decimals: int) -> float:
    """`qty` rounded down to `decimals` places (never up: never spend or sell more than allowed); 0 if not above 0."""
    if qty <= 0:
        return 0.0
    return float(decimal_amount(qty).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN))
