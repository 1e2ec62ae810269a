"""Position arithmetic on exact amounts: buy, average in, sell with the clamp, dust, realised P&L by average cost."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.brokers.base import OrderResult, OrderStatus, Side
from bot.execution.positions import (
    Holding,
    buy,
    exact,
    fraction_sold,
    is_dust,
    sale_quantity,
    sell,
)
from bot.strategy.sizing import minimum_violation


def fill(side: Side, base: D, price: D, fee_quote: D = D(0), fee_base: D = D(0)) -> OrderResult:
    """An exchange's answer with exact amounts, as the broker boundary reports it."""
    return OrderResult("c", "ETH-USD", side, OrderStatus.FILLED, filled_base=base, avg_price=price,
                       filled_quote=base * price, fee_quote=fee_quote, fee_base=fee_base)


def bought(base: str, price: str, fee_quote: str = "0", fee_base: str = "0") -> OrderResult:
    return fill(Side.BUY, D(base), D(price), D(fee_quote), D(fee_base))


def sold(base: str, price: str, fee_quote: str = "0") -> OrderResult:
    return fill(Side.SELL, D(base), D(price), D(fee_quote))


def test_the_issue_example_a_full_close_sells_exactly_what_is_booked() -> None:
    """0.00124158 - 0.00062078 is 0.00062080 exactly; the float did 0.0006207999999999999 and left 1e-8 behind."""
    holding = buy(Holding(), bought("0.00124158", "3000"))
    half = sell(holding, sold("0.00062078", "3100"))
    assert half.remaining.quantity == D("0.00062080")
    quantity, problem = sale_quantity(half.remaining.quantity, D("0.00062080"), D(1), price=D("3100"), lot_decimals=8)
    assert (quantity, problem) == (D("0.00062080"), "")
    closed = sell(half.remaining, sold(str(quantity), "3100"))
    assert closed.remaining.quantity == 0 and closed.remaining.cost == 0


def test_a_fee_taken_in_the_asset_is_not_booked_as_held() -> None:
    """Alpaca crypto: 0.124979924 ETH bought, the fee comes out of the ETH, 0.124667474 is what is held."""
    answer = bought("0.124979924", "4000", fee_base="0.00031245")
    assert answer.base_delta == D("0.124667474")
    holding = buy(Holding(), answer)
    assert holding.quantity == D("0.124667474")
    assert holding.cost == D("0.124979924") * D("4000")  # paid for the gross; holds the net


def test_average_in_and_realised_pnl_by_average_cost() -> None:
    holding = buy(Holding(), bought("1", "100", fee_quote="1"))  # cost 101
    holding = buy(holding, bought("1", "110", fee_quote="1"))  # cost 101 + 111 = 212 for 2
    assert holding == Holding(D("2"), D("212"))
    sale = sell(holding, sold("0.5", "120", fee_quote="0.6"))  # proceeds 59.4, cost of sold 53
    assert sale.cost_of_sold == D("53") and sale.realised_pnl == D("6.4")
    assert sale.remaining == Holding(D("1.5"), D("159"))
    rest = sell(sale.remaining, sold("1.5", "90"))
    assert rest.remaining == Holding(D("0.0"), D("0")) and rest.realised_pnl == D("135") - D("159")


def test_a_sale_is_clamped_to_the_booked_holding() -> None:
    """Coins beyond the booked position (a deposit, dust) were never the bot's: only the booked part counts."""
    holding = buy(Holding(), bought("1", "100"))
    sale = sell(holding, sold("2", "150"))
    assert sale.sold == D("1") and sale.remaining.quantity == 0
    assert sale.realised_pnl == D("50")  # half the proceeds belong to the booked coin
    nothing = sell(Holding(), sold("1", "150"))
    assert nothing.sold == 0 and nothing.realised_pnl == 0


def test_part_sale_that_would_leave_dust_sells_everything() -> None:
    # min 0.01: selling half of 0.015 would leave 0.0075, which could never be sold
    quantity, _ = sale_quantity(D("0.015"), D("0.015"), D("0.5"), price=D("100"), lot_decimals=8,
                                min_base_qty=D("0.01"))
    assert quantity == D("0.01500000")
    quantity, _ = sale_quantity(D("1"), D("1"), D("0.5"), price=D("100"), lot_decimals=8, min_base_qty=D("0.01"))
    assert quantity == D("0.5")
    quantity, problem = sale_quantity(D("0.005"), D("0.005"), D(1), price=D("100"), lot_decimals=8,
                                      min_base_qty=D("0.01"))
    assert quantity == 0 and "under the exchange minimum 0.01" in problem


def test_sale_quantity_never_exceeds_what_the_exchange_says_is_available() -> None:
    quantity, _ = sale_quantity(D("1.0"), D("0.4"), D(1), price=D("10"), lot_decimals=4)
    assert quantity == D("0.4000")
    quantity, _ = sale_quantity(D("1.0"), D("0.4"), D("0.5"), price=D("10"), lot_decimals=4)
    assert quantity == D("0.4000")  # half of the position is more than is there: sell what is there


def test_dust_and_order_problems() -> None:
    assert is_dust(D("0.00001"), D("3000"), D("0.0001"), D("0"))
    assert is_dust(D("0.001"), D("3"), D("0"), D("5"))  # worth 0.003 under a 5 minimum
    assert not is_dust(D("0"), D("3000"), D("0.0001"), D("5"))  # nothing is not dust: it is flat
    assert not is_dust(D("0.01"), D("3000"), D("0.0001"), D("5"))
    assert minimum_violation(D("0"), D("1"), D("0"), D("0")) == "quantity rounds to zero"
    assert minimum_violation(D("0.0005"), D("3000"), D("0.001"), D("0")) == (
        "quantity 0.0005 is under the exchange minimum 0.001")  # exact Decimals, never a float's 0.00050000001
    assert minimum_violation(D("0.002"), D("3000"), D("0.001"), D("10")) == (
        "order value 6.00 is under the exchange minimum 10")


def test_fraction_sold_is_at_most_one_and_one_for_a_close() -> None:
    assert fraction_sold(D("0.5"), D("2")) == D("0.25")
    assert fraction_sold(D("2"), D("2")) == 1 and fraction_sold(D("3"), D("2")) == 1
    assert fraction_sold(D("1"), D("0")) == 1


def test_exact_reads_floats_by_their_shortest_repr_and_refuses_non_amounts() -> None:
    assert exact(0.1) == D("0.1") and exact(3) == D(3) and exact("0.00062080") == D("0.00062080")
    assert exact(0.00124158 - 0.00062078) != D("0.0006208")  # why float never does the arithmetic
    with pytest.raises(ValueError):
        exact(True)
    with pytest.raises(TypeError):
        exact(None)


amounts = st.decimals(min_value=D("0.00000001"), max_value=D("1000"), places=8)
prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
fees = st.decimals(min_value=D("0"), max_value=D("5"), places=4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), amounts, prices, fees), min_size=1, max_size=12))
def test_money_is_conserved_and_nothing_goes_negative(steps: list[tuple[bool, D, D, D]]) -> None:
    """Sum of what every order did to the quote balance = realised P&L so far - cost still held, exactly,
    and a holding never goes below zero nor carries cost once flat."""
    holding = Holding()
    quote_total = D(0)
    realised = D(0)
    for is_buy, base, price, fee in steps:
        if is_buy:
            answer = fill(Side.BUY, base, price, fee)
            holding = buy(holding, answer)
            quote_total += answer.quote_delta
            continue
        base = min(base, holding.quantity)
        if base <= 0:
            continue
        answer = fill(Side.SELL, base, price, fee)
        sale = sell(holding, answer)
        holding = sale.remaining
        quote_total += answer.quote_delta
        realised += sale.realised_pnl
        assert holding.quantity >= 0 and holding.cost >= 0
        if holding.quantity == 0:
            assert holding.cost == 0
    assert quote_total == realised - holding.cost


@settings(max_examples=200, deadline=None)
@given(amounts, amounts, st.decimals(min_value=D("0.01"), max_value=D("1"), places=4), prices,
       st.integers(min_value=0, max_value=8), amounts)
def test_sale_quantity_is_on_the_lot_and_within_both_limits(
    booked: D, available: D, fraction: D, price: D, lot: int, minimum: D
) -> None:
    quantity, problem = sale_quantity(booked, available, fraction, price=price, lot_decimals=lot,
                                      min_base_qty=minimum)
    if problem:
        assert quantity == 0
        return
    assert 0 < quantity <= min(booked, available)
    assert quantity == quantity.quantize(D(1).scaleb(-lot))
    assert quantity >= minimum
    left = booked - quantity
    # what a part sale leaves is either nothing sellable-worth lost or at least the minimum
    assert fraction >= 1 or left <= 0 or left >= minimum or quantity == min(booked, available).quantize(
        D(1).scaleb(-lot), rounding="ROUND_DOWN")
