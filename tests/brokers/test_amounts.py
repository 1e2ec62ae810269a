"""Exact amounts at the broker boundary: parsing, formatting, rounding, and the values that cross it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.brokers.amounts import AmountError, decimals_of, floor_to, plain, round_half_up, to_decimal
from bot.brokers.base import AssetBalance, MarketInfo, OrderRequest, OrderResult, OrderStatus, Side


def test_exchange_strings_are_parsed_exactly() -> None:
    assert to_decimal("0.00124158") - to_decimal("0.00062078") == Decimal("0.00062080")  # float gave 0.0006207999999
    assert to_decimal("45268470") == 45_268_470
    assert to_decimal("45268470.123456789") == Decimal("45268470.123456789")  # 17 digits: beyond a float
    assert to_decimal(" 1.5 ") == Decimal("1.5")
    assert to_decimal(0.1) == Decimal("0.1")  # an SDK's float, by its shortest repr
    assert to_decimal(None) == 0 and to_decimal("") == 0
    for bad in ("abc", "NaN", "Infinity", True):
        with pytest.raises(AmountError):
            to_decimal(bad)
    with pytest.raises(AmountError):
        to_decimal(None, default=None)


def test_plain_keeps_the_zeros_of_whole_numbers() -> None:
    assert plain(Decimal("45268470")) == "45268470"
    assert plain(Decimal("45268470.000000000")) == "45268470"
    assert plain(Decimal("4.526847E+7")) == "45268470"
    assert plain(Decimal("0.000620800"), 8) == "0.0006208"
    assert plain(Decimal("0.123456789"), 4) == "0.1234"  # cut, never rounded up
    assert plain(Decimal("-0.0000")) == "0"
    assert plain(Decimal("1E-9")) == "0.000000001"


@given(st.decimals(min_value=0, max_value=10**12, places=9, allow_nan=False, allow_infinity=False))
def test_plain_round_trips_every_amount(value: Decimal) -> None:
    text = plain(value)
    assert "E" not in text.upper() and Decimal(text) == value


def test_rounding_helpers() -> None:
    assert floor_to(Decimal("0.999999999"), 8) == Decimal("0.99999999")
    assert round_half_up(Decimal("0.0003124498"), 9) == Decimal("0.000312450")
    assert (decimals_of("0.00000001"), decimals_of("0.01"), decimals_of("1"), decimals_of("10")) == (8, 2, 0, 0)
    assert decimals_of(None, 9) == 9 and decimals_of(0.0001) == 4


def test_floats_are_refused_at_the_boundary() -> None:
    with pytest.raises(TypeError, match="quote_notional must be a Decimal"):
        OrderRequest("BTC-USD", Side.BUY, "c", quote_notional=50.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="total must be a Decimal"):
        AssetBalance("BTC", 0.1, Decimal(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="filled_base"):
        OrderResult("c", "BTC-USD", Side.BUY, OrderStatus.FILLED, filled_base=0.1)  # type: ignore[arg-type]
    assert OrderRequest("BTC-USD", Side.SELL, "c", base_qty=3).base_qty == Decimal(3)  # ints are exact


def test_deltas_follow_where_the_fee_was_taken() -> None:
    alpaca_buy = OrderResult("c", "ETH-USD", Side.BUY, OrderStatus.FILLED, filled_base=Decimal("0.124979924"),
                             avg_price=Decimal("4000"), filled_quote=Decimal("499.919696"),
                             fee_base=Decimal("0.000312450"))
    assert alpaca_buy.base_delta == Decimal("0.124667474")  # what the account holds, not the gross fill
    assert alpaca_buy.quote_delta == Decimal("-499.919696")
    coinbase_buy = OrderResult("c", "ETH-USD", Side.BUY, OrderStatus.FILLED, filled_base=Decimal("0.1242"),
                               filled_quote=Decimal("497.01"), fee_quote=Decimal("2.98"))
    assert coinbase_buy.quote_delta == Decimal("-499.99")  # what the master spent: a copy's notional
    sale = OrderResult("c", "ETH-USD", Side.SELL, OrderStatus.FILLED, filled_base=Decimal("0.5"),
                       filled_quote=Decimal("2000"), fee_quote=Decimal("5.2"))
    assert (sale.base_delta, sale.quote_delta) == (Decimal("-0.5"), Decimal("1994.8"))


def test_market_rules_in_exact_amounts() -> None:
    shib = MarketInfo("SHIB-USD", "SHIB", "USD", "SHIBUSD", Decimal(300_000), Decimal("0.5"), 0, 8, 0.0026)
    assert shib.floor_qty(Decimal("45268470.99")) == Decimal(45_268_470)
    assert shib.rule_violation(Decimal(299_999), 0.00001234) == "quantity 299999 SHIB is under the minimum 300000 SHIB"
    assert shib.rule_violation(Decimal(45_268_470), 0.00001234) is None
    assert shib.floor_notional(Decimal("12.349")) == Decimal("12.34")
    with pytest.raises(TypeError):
        MarketInfo("X-USD", "X", "USD", "XUSD", 0.1, Decimal(0), 8, 2, 0.0)  # type: ignore[arg-type]
