"""The contract every adapter keeps, run against its simulator face over real HTTP with the real SDK."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.brokers.base import OrderRequest, OrderStatus, Side, new_client_order_id
from bot.brokers.errors import AuthenticationError, ExchangeUnavailable
from bot.config.accounts import Credentials
from tests.brokers.conftest import ContractEnv


def _buy(env: ContractEnv, usd: str = "50") -> OrderRequest:
    return OrderRequest(env.brokerage.symbol, Side.BUY, new_client_order_id(), quote_notional=Decimal(usd))


def test_balances_report_cash_holdings_and_equity(contract: ContractEnv) -> None:
    broker = contract.broker("acct", {"USD": 1_000.0, "ETH": 2.0})
    snapshot = broker.balances()
    eth_price = contract.exchange.price("ETH-USD")
    assert snapshot.cash_total == pytest.approx(1_000.0)
    assert snapshot.holding("ETH") == 2
    assert snapshot.equity == pytest.approx(1_000.0 + 2.0 * eth_price, rel=1e-3)


def test_markets_carry_the_exchange_rules(contract: ContractEnv) -> None:
    markets = contract.broker().markets()
    sim = contract.exchange.markets()
    assert set(markets) >= {"BTC-USD", "ETH-USD"}
    for symbol in ("BTC-USD", "SHIB-USD"):
        assert float(markets[symbol].min_base_qty) == pytest.approx(sim[symbol].min_base_qty)
        assert markets[symbol].base_decimals == sim[symbol].base_decimals
        assert markets[symbol].price_decimals == sim[symbol].price_decimals


def test_candles_are_closed_and_ascending(contract: ContractEnv) -> None:
    frame = contract.broker().candles("ETH-USD", 5, 50)
    assert len(frame) == 50
    assert list(frame["time"]) == sorted(frame["time"])
    assert int(frame["time"].iloc[-1]) + 300 <= contract.clock.now()  # the open candle is left out
    expected = contract.exchange.candles("ETH-USD", 5, 51)[:-1]
    assert frame["close"].tolist() == pytest.approx([row[4] for row in expected], abs=0.01)  # price decimals


def test_order_placed_and_filled_once(contract: ContractEnv) -> None:
    broker = contract.broker()
    result = broker.place_order(_buy(contract))
    assert result.status is OrderStatus.FILLED
    assert result.filled_base > 0 and result.avg_price > 0
    assert len(contract.exchange.orders_by_client_id("acct", result.client_order_id)) == 1


def test_order_refused_with_the_exchange_reason(contract: ContractEnv) -> None:
    broker = contract.broker("poor", {"USD": 20.0})
    result = broker.place_order(_buy(contract, "5000"))
    assert result.status is OrderStatus.REJECTED
    assert "insufficient" in result.reason.lower()
    assert contract.exchange.orders("poor") == []


def test_order_timed_out_is_looked_up_not_resent(contract: ContractEnv) -> None:
    broker = contract.broker(exchange_timeout_seconds="0.3")
    broker.markets()
    contract.exchange.faults.set(face=contract.brokerage.face, endpoint=contract.brokerage.order_endpoint,
                                 hang_rate=1.0, hang_seconds=1.0)
    request = _buy(contract)
    result = broker.place_order(request)
    assert result.status is OrderStatus.FILLED
    assert len(contract.exchange.orders_by_client_id("acct", request.client_order_id)) == 1


def test_lost_acknowledgement_is_found_by_client_id(contract: ContractEnv) -> None:
    broker = contract.broker()
    broker.markets()
    contract.exchange.faults.set(face=contract.brokerage.face, endpoint=contract.brokerage.order_endpoint,
                                 drop_after_execute_rate=1.0)
    request = _buy(contract)
    result = broker.place_order(request)
    assert result.status is OrderStatus.FILLED
    assert contract.exchange.faults.counts.get("drop") == 1
    assert len(contract.exchange.orders_by_client_id("acct", request.client_order_id)) == 1


def test_order_looked_up_by_client_id(contract: ContractEnv) -> None:
    broker = contract.broker()
    placed = broker.place_order(_buy(contract))
    found = broker.get_order(placed.client_order_id, placed.symbol)
    assert found is not None and found.exchange_order_id == placed.exchange_order_id
    assert found.filled_base == placed.filled_base
    assert broker.get_order(new_client_order_id(), placed.symbol) is None


def test_authentication_refused(contract: ContractEnv) -> None:
    real = contract.provision("acct", {"USD": 100.0})
    wrong = Credentials(real.api_key, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", source="TEST")
    broker = contract.broker("acct", credentials=wrong)
    with pytest.raises(AuthenticationError):
        broker.balances()


def test_exchange_down_is_transient_and_orders_stay_in_flight(contract: ContractEnv) -> None:
    broker = contract.broker()
    broker.markets()
    contract.exchange.faults.set(face=contract.brokerage.face, http_5xx_rate=1.0)
    with pytest.raises(ExchangeUnavailable):
        broker.balances()
    result = broker.place_order(_buy(contract))
    assert result.status is OrderStatus.IN_FLIGHT  # unknown outcome is never reported as rejected
    assert contract.exchange.orders("acct") == []


def test_in_flight_order_is_settled_by_lookup_never_guessed(contract: ContractEnv) -> None:
    broker = contract.broker()
    broker.markets()
    contract.exchange.faults.set(face=contract.brokerage.face, http_5xx_rate=1.0)
    in_flight = broker.place_order(_buy(contract))
    assert in_flight.status is OrderStatus.IN_FLIGHT
    contract.exchange.faults.clear()
    # The exchange now answers "no such order", but a hung request could still land: keep it in flight.
    assert broker.settle(in_flight).status is OrderStatus.IN_FLIGHT
    contract.clock.advance(broker.unknown_order_grace_seconds + 1)
    settled = broker.settle(in_flight)
    assert settled.status is OrderStatus.REJECTED
    assert settled.reason.startswith("never reached the exchange")


def test_in_flight_order_that_executed_settles_as_filled(contract: ContractEnv) -> None:
    broker = contract.broker()
    broker.markets()
    contract.exchange.faults.set(face=contract.brokerage.face, drop_after_execute_rate=1.0)
    request = _buy(contract)
    in_flight = broker.place_order(request)
    contract.exchange.faults.clear()
    if in_flight.status is OrderStatus.IN_FLIGHT:  # every lookup was dropped too
        in_flight = broker.settle(in_flight)
    assert in_flight.status is OrderStatus.FILLED
    assert len(contract.exchange.orders_by_client_id("acct", request.client_order_id)) == 1


def test_quote_notional_is_the_total_spend_fee_included(contract: ContractEnv) -> None:
    """A buy of 200 USD costs the account 200 USD with the fee on every venue, whatever the venue's parameter."""
    broker = contract.broker("acct", {"USD": 1_000.0})
    result = broker.place_order(_buy(contract, "200"))
    assert result.status is OrderStatus.FILLED
    spent = 1_000.0 - contract.exchange.balances("acct")["USD"].total
    assert float(-result.quote_delta) == pytest.approx(spent, abs=1e-4)
    assert 199.9 <= spent <= 200.0
