"""Float quantities become the exact amounts they stand for, so a "sell everything" never leaves one lot of dust
(it left 1e-8 DOGE on the exchange while the store closed the position)."""

from __future__ import annotations

from decimal import Decimal

from bot.lots import decimal_amount, floor_to_lot
from bot.strategy.sizing import floor_to_decimals

REMAINING = 3182.07873137 - 1591.03936568  # 1591.03936568999... in binary floating point


def test_a_float_stands_for_its_fifteen_digit_decimal() -> None:
    assert REMAINING != 1591.03936569 and repr(REMAINING).startswith("1591.03936568999")
    assert decimal_amount(REMAINING) == Decimal("1591.03936569")
    assert decimal_amount(0.0051688 - 0.0025844) == Decimal("0.0025844")
    assert decimal_amount(0.1) == Decimal("0.1") and decimal_amount(249.33) == Decimal("249.33")


def test_flooring_to_the_lot_keeps_a_whole_lot_and_cuts_a_real_fraction() -> None:
    assert floor_to_lot(REMAINING, 8) == 1591.03936569 == floor_to_decimals(REMAINING, 8)
    assert floor_to_lot(1.234567891, 8) == 1.23456789
    assert floor_to_lot(0.129999, 2) == 0.12
    assert floor_to_lot(0.0249 * 0.8, 4) == 0.0199
    assert floor_to_lot(5.0, 0) == 5.0 and floor_to_lot(-1.0, 3) == 0.0 and floor_to_lot(0.0, 8) == 0.0
