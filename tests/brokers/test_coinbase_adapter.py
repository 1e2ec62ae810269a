"""Coinbase adapter specifics (beyond the shared contract suite), real SDK over TLS against the simulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.brokers.base import OrderRequest, OrderStatus, Side, new_client_order_id
from bot.brokers.coinbase import CoinbaseBroker
from bot.brokers.errors import AuthenticationError, ExchangeUnavailable, RateLimitError
from bot.clock import ManualClock
from bot.config.accounts import Credentials
from bot.sim.exchange import SimExchange
from bot.sim.faces.coinbase import CoinbaseFace
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer
from tests.brokers.conftest import BROKERAGES, START, ContractEnv


@pytest.fixture
def env(tmp_path: Path) -> Iterator[ContractEnv]:
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=3, n_markets=24, start_time=START), clock, seed=3)
    with SimulatorServer(exchange, faces=("coinbase",)) as server:
        yield ContractEnv(BROKERAGES["coinbase"], "coinbase", exchange, server, clock, tmp_path)


def _face(env: ContractEnv) -> CoinbaseFace:
    face = env.server.face("coinbase")
    assert isinstance(face, CoinbaseFace)
    return face


def test_rules_and_fee_come_from_product_data(env: ContractEnv) -> None:
    markets = env.broker().markets()
    for symbol, sim in env.exchange.markets().items():
        market = markets[symbol]
        assert market.exchange_symbol == symbol
        assert float(market.min_notional) == pytest.approx(sim.min_notional)
        assert market.base_decimals == sim.base_decimals and market.price_decimals == sim.price_decimals
        assert market.taker_fee == pytest.approx(sim.taker_fee)  # from the transaction summary's fee tier


def test_expired_jwt_stops_the_account(env: ContractEnv) -> None:
    broker = env.broker()
    broker.markets()
    _face(env).now_offset_seconds = 300.0
    with pytest.raises(AuthenticationError, match="401"):
        broker.balances()
    with pytest.raises(AuthenticationError):  # never turned into an in-flight or rejected order
        broker.place_order(OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("20")))
    assert env.exchange.orders("acct") == []


def test_an_unusable_secret_is_named_without_showing_it(env: ContractEnv) -> None:
    env.provision("acct", {"USD": 10.0})
    bad = Credentials("organizations/o/apiKeys/k", "not-a-key-at-all", source="COINBASE_MASTER")
    broker = env.broker("acct", credentials=bad)
    with pytest.raises(AuthenticationError) as refused:
        broker.balances()
    assert "COINBASE_MASTER_API_SECRET" in str(refused.value)
    assert "not-a-key-at-all" not in str(refused.value)


def test_buy_then_sell_round_trip_and_balances(env: ContractEnv) -> None:
    broker = env.broker("acct", {"USD": 1_000.0})
    bought = broker.place_order(OrderRequest("ETH-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("200")))
    assert bought.status is OrderStatus.FILLED and bought.fee_quote > 0
    held = broker.balances().holding("ETH")
    assert held == bought.filled_base
    sell = broker.prepare_order(OrderRequest("ETH-USD", Side.SELL, new_client_order_id(), base_qty=held),
                                broker.tickers(["ETH-USD"])["ETH-USD"].bid)
    sold = broker.place_order(sell)
    assert sold.status is OrderStatus.FILLED and sold.filled_base == held
    after = broker.balances()
    assert after.holding("ETH") == 0
    assert after.cash_total == pytest.approx(1_000.0 - float(bought.fee_quote + sold.fee_quote), abs=1.0)
    assert {o.side for o in env.exchange.orders("acct")} == {"buy", "sell"}


def test_resting_order_listed_and_cancelled(env: ContractEnv) -> None:
    broker = env.broker("acct", {"USD": 1_000.0})
    price = broker.tickers(["BTC-USD"])["BTC-USD"].last
    request = OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), base_qty=Decimal("0.001"), order_type="limit",
                           limit_price=broker.market("BTC-USD").round_price(price * 0.5))
    placed = broker.place_order(request)
    assert placed.status is OrderStatus.OPEN
    assert [o.client_order_id for o in broker.open_orders()] == [request.client_order_id]
    broker.cancel_order(placed)
    assert broker.open_orders() == []
    assert env.exchange.order_by_client_id("acct", request.client_order_id).status == "canceled"


def test_many_orders_with_lost_acks_and_5xx_each_exist_exactly_once(env: ContractEnv) -> None:
    broker = env.broker("acct", {"USD": 100_000.0})
    broker.markets()
    env.exchange.faults.reseed(11)
    env.exchange.faults.set(face="coinbase", endpoint="CreateOrder", drop_after_execute_rate=0.2, http_5xx_rate=0.1)
    requests = [OrderRequest("BTC-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal(25)) for _ in range(40)]
    results = [broker.place_order(r) for r in requests]
    assert env.exchange.faults.counts["drop"] > 0 and env.exchange.faults.counts["http_5xx"] > 0
    assert all(r.status is OrderStatus.FILLED for r in results)
    for request in requests:
        assert len(env.exchange.orders_by_client_id("acct", request.client_order_id)) == 1
    assert len(env.exchange.orders("acct")) == len(requests)


def test_every_call_has_a_timeout_and_rate_limits_are_classified(env: ContractEnv) -> None:
    broker = env.broker(exchange_timeout_seconds="0.3")
    broker.markets()
    env.exchange.faults.set(face="coinbase", endpoint="ListAccounts", hang_rate=1.0, hang_seconds=2.0)
    began = time.monotonic()
    with pytest.raises(ExchangeUnavailable):
        broker.balances()
    assert time.monotonic() - began < 1.5
    env.exchange.faults.set(face="coinbase", endpoint="ListAccounts", forced_error="RATE_LIMIT_EXCEEDED")
    with pytest.raises(RateLimitError):
        broker.balances()


def test_server_time_is_the_exchange_clock(env: ContractEnv) -> None:
    broker = env.broker()
    assert isinstance(broker, CoinbaseBroker)
    env.clock.advance(3_600)
    assert broker.server_time() == pytest.approx(int(START + 3_600))


def test_fills_and_fees_match_the_simulator_to_the_cent(env: ContractEnv) -> None:
    broker = env.broker("acct", {"USD": 1_000.0})
    result = broker.place_order(OrderRequest("SOL-USD", Side.BUY, new_client_order_id(), quote_notional=Decimal("123")))
    order = env.exchange.order_by_client_id("acct", result.client_order_id)
    assert order is not None
    assert float(result.filled_base) == pytest.approx(order.filled_base)
    assert float(result.filled_quote) == pytest.approx(order.cost, abs=0.005)
    assert float(result.fee_quote) == pytest.approx(order.fee, abs=0.005)
