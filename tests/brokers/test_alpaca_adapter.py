"""Alpaca adapter specifics (beyond the shared contract suite, tests/brokers/contract.py): the SDK's own
resends, stock candles and market hours, the catalogue, the paper endpoint.

Stocks come from the simulator catalogue (catalog.STOCKS) with NYSE hours on the simulator's clock: Sunday
is closed, Monday 10:00 New York is open, Monday 17:00 is closed again. Market orders are answered
pending_new and fill after the face's delay of simulated time: these tests settle them by advancing the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca.common.enums import BaseURL

from bot.brokers.alpaca import AlpacaBroker
from bot.brokers.base import Broker, MarketInfo, OrderRequest, OrderResult, OrderStatus, Side, new_client_order_id
from bot.brokers.errors import AuthenticationError
from bot.clock import ManualClock
from bot.config.accounts import Credentials
from bot.sim.catalog import STOCKS
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer
from tests.brokers.conftest import BROKERAGES, START, ContractEnv
from tests.sim.test_alpaca_face import MONDAY_10AM_NEW_YORK, NEW_YORK, SUNDAY, with_stocks


@pytest.fixture
def env(tmp_path: Path) -> Iterator[ContractEnv]:
    clock = ManualClock(SUNDAY)
    exchange = SimExchange(with_stocks(seed=4, start=SUNDAY), clock, seed=4)
    with SimulatorServer(exchange, faces=("alpaca",)) as server:
        server.face("alpaca").fill_wall_cap_seconds = None  # fills follow the simulated clock only
        yield ContractEnv(BROKERAGES["alpaca"], "alpaca", exchange, server, clock, tmp_path)


def _settled(env: ContractEnv, broker: Broker, result: OrderResult) -> OrderResult:
    env.clock.advance(env.server.face("alpaca").fill_delay_seconds)
    return broker.settle(result)


def _buy(symbol: str = "BTC-USD", usd: str = "40") -> OrderRequest:
    return OrderRequest(symbol, Side.BUY, new_client_order_id(), quote_notional=Decimal(usd))


def test_by_default_the_sdk_never_resends_and_never_sleeps_so_a_stop_is_not_held_up(env: ContractEnv) -> None:
    # alpaca-py's own resend waits in time.sleep, which no stop can cut short: our retries (classified, stop-aware)
    # do the job instead. With the shipped defaults (a 3 s wait if it did resend) one answer is one request.
    broker = env.broker("acct", {"USD": 10_000.0}, alpaca_sdk_retry_wait_seconds="3")
    broker.markets()
    faults = env.exchange.faults
    faults.set(face="alpaca", endpoint="submit_order", forced_error="504 after execute")
    request = _buy()
    result = broker.place_order(request)  # one 504, then the look-up by client id finds the order
    assert result.status is OrderStatus.OPEN
    assert faults.counts["error"] == 1  # the SDK sent it once (with its resends on: 4, and 9 s asleep)
    assert len(env.exchange.orders_by_client_id("acct", request.client_order_id)) == 1


def test_sdk_resends_on_504_after_execution_create_no_duplicate(env: ContractEnv) -> None:
    broker = env.broker("acct", {"USD": 10_000.0}, alpaca_sdk_retries="3")  # an operator who turns them on
    broker.markets()
    faults = env.exchange.faults
    faults.set(face="alpaca", endpoint="submit_order", forced_error="504 after execute")
    request = _buy()
    result = broker.place_order(request)  # every answer is 504: the SDK resent 3 times, then we looked it up
    assert result.status is OrderStatus.OPEN  # found by its client id, accepted, filled a moment later
    assert _settled(env, broker, result).status is OrderStatus.FILLED
    assert faults.counts["error"] == 4
    assert len(env.exchange.orders_by_client_id("acct", request.client_order_id)) == 1

    faults.reseed(5)
    faults.set(face="alpaca", endpoint="submit_order", forced_error="504 after execute", error_rate=0.5)
    requests = [_buy() for _ in range(20)]
    results = [broker.place_order(r) for r in requests]
    assert all(r.status is OrderStatus.OPEN for r in results)
    for sent in requests:
        assert len(env.exchange.orders_by_client_id("acct", sent.client_order_id)) == 1
    assert len(env.exchange.orders("acct")) == 21


def test_sdk_resends_on_429_before_execution_create_exactly_one_order(env: ContractEnv) -> None:
    broker = env.broker("acct", {"USD": 10_000.0}, alpaca_sdk_retries="3")
    broker.markets()
    env.exchange.faults.reseed(8)
    env.exchange.faults.set(face="alpaca", endpoint="submit_order", forced_error="429", error_rate=0.5)
    requests = [_buy() for _ in range(12)]
    results = [broker.place_order(r) for r in requests]
    assert env.exchange.faults.counts["error"] > 0
    assert all(r.status is OrderStatus.OPEN for r in results)
    assert sorted(o.client_order_id or "" for o in env.exchange.orders("acct")) == sorted(
        r.client_order_id for r in requests
    )


def test_stock_orders_are_sent_while_the_market_is_closed(env: ContractEnv) -> None:
    """Failure 10: the adapter refused a closed-market stock order before sending; Alpaca accepts a day order."""
    broker = env.broker("acct", {"USD": 1_000.0})
    aapl = broker.market("AAPL-USD")
    assert (aapl.exchange_symbol, aapl.asset_class, aapl.base_decimals, aapl.min_notional) == (
        "AAPL", "stock", 9, Decimal(1))
    assert broker.market_is_open("AAPL-USD") is False and broker.market_is_open("BTC-USD") is True
    entry = broker.place_order(_buy("AAPL-USD"))
    assert entry.status is OrderStatus.OPEN and entry.reason == ""
    order = env.exchange.order_by_client_id("acct", entry.client_order_id)
    assert order is not None and order.status == "open"  # on the exchange, waiting for the open
    env.clock.set(MONDAY_10AM_NEW_YORK)
    assert broker.market_is_open("AAPL-USD") is True
    filled = broker.settle(entry)
    assert filled.status is OrderStatus.FILLED and filled.fee_quote == 0  # commission-free
    assert broker.balances().holding("AAPL") == filled.base_delta


def test_stock_candles_skip_nights_and_weekends(env: ContractEnv) -> None:
    env.clock.set(MONDAY_10AM_NEW_YORK)
    broker = env.broker("acct", {"USD": 100.0})
    frame = broker.candles("AAPL-USD", 60, 5)
    opens = [datetime.fromtimestamp(int(t), NEW_YORK) for t in frame["time"]]
    # Friday's 12:00-15:00 bars, then Monday's 09:00 bar (the open is 09:30); the 10:00 bar is still open.
    assert [(o.strftime("%a"), o.hour) for o in opens] == [("Fri", 12), ("Fri", 13), ("Fri", 14), ("Fri", 15),
                                                           ("Mon", 9)]
    expected = {int(row[0]): row[4] for row in env.exchange.candles("AAPL-USD", 60, 80)}
    assert frame["close"].tolist() == pytest.approx([expected[int(t)] for t in frame["time"]], abs=0.01)


def _markets_on(face: str, env: ContractEnv) -> dict[str, MarketInfo]:
    return env.broker(f"acct-{face}", {"USD": 100.0}).markets()


def test_catalogue_stocks_are_offered_on_alpaca_and_not_on_coinbase(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_10AM_NEW_YORK)
    exchange = SimExchange(with_stocks(seed=4, start=SUNDAY), clock, seed=4)
    with SimulatorServer(exchange, faces=("alpaca", "coinbase")) as server:
        alpaca = _markets_on("alpaca", ContractEnv(BROKERAGES["alpaca"], "alpaca", exchange, server, clock, tmp_path))
        coinbase = _markets_on(
            "coinbase", ContractEnv(BROKERAGES["coinbase"], "coinbase", exchange, server, clock, tmp_path)
        )
    stocks = {spec.symbol for spec in STOCKS}
    assert {s for s, m in alpaca.items() if m.asset_class == "stock"} == stocks == {"AAPL-USD", "MSFT-USD",
                                                                                    "NVDA-USD", "SPY-USD"}
    assert "BTC-USD" in coinbase and not stocks & set(coinbase)


def test_catalogue_stocks_are_not_offered_on_kraken(tmp_path: Path) -> None:
    clock = ManualClock(MONDAY_10AM_NEW_YORK)
    exchange = SimExchange(with_stocks(seed=4, start=SUNDAY), clock, seed=4)
    with SimulatorServer(exchange, faces=("kraken",)) as server:
        kraken = _markets_on("kraken", ContractEnv(BROKERAGES["kraken"], "kraken", exchange, server, clock, tmp_path))
    assert "BTC-USD" in kraken and not {spec.symbol for spec in STOCKS} & set(kraken)


def test_refused_keys_are_authentication_errors_everywhere(env: ContractEnv) -> None:
    real = env.provision("acct", {"USD": 100.0})
    refused = {"403": Credentials(real.api_key, "x" * 40, source="ALPACA_MASTER"),  # {"message": "forbidden."}
               "401": Credentials("PKNOSUCHKEY000000000", real.api_secret, source="ALPACA_MASTER")}
    for status, credentials in refused.items():
        broker = env.broker("acct", credentials=credentials)
        for call in (broker.balances, broker.markets, broker.open_orders):
            with pytest.raises(AuthenticationError, match=status):
                call()


def test_paper_endpoint_unless_live_trading(env: ContractEnv) -> None:
    real = env.provision("acct", {"USD": 100.0})
    live_key = Credentials(real.api_key, real.api_secret, source="ALPACA_MASTER", paper=False)
    paper = env.broker("acct", credentials=live_key, alpaca_api_url="")
    live = env.broker("acct", credentials=live_key, alpaca_api_url="", live_trading="true")
    assert isinstance(paper, AlpacaBroker) and isinstance(live, AlpacaBroker)
    assert paper.trading._base_url == BaseURL.TRADING_PAPER  # LIVE_TRADING is off: never the live host
    assert live.trading._base_url == BaseURL.TRADING_LIVE


def test_fills_and_fees_match_the_simulator_to_the_cent(env: ContractEnv) -> None:
    broker = env.broker("acct", {"USD": 1_000.0})
    result = _settled(env, broker, broker.place_order(_buy("ETH-USD", "123")))
    order = env.exchange.order_by_client_id("acct", result.client_order_id)
    assert order is not None and order.status == "closed"
    assert result.filled_base == Decimal(repr(order.filled_base))
    assert float(result.filled_quote) == pytest.approx(order.cost, abs=1e-6)
    assert result.fee_base == Decimal(repr(order.fee_base)) and result.fee_quote == order.fee == 0


def test_tiny_prices_and_whole_unit_lots_survive_the_round_trip(tmp_path: Path) -> None:
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=7, n_markets=24, start_time=START), clock, seed=7)
    with SimulatorServer(exchange, faces=("alpaca",)) as server:
        env = ContractEnv(BROKERAGES["alpaca"], "alpaca", exchange, server, clock, tmp_path)
        server.face("alpaca").fill_wall_cap_seconds = None
        broker = env.broker("acct", {"USD": 1_000.0})
        pepe = broker.market("PEPE-USD")
        assert pepe.base_decimals == 9 and pepe.price_decimals == exchange.markets()["PEPE-USD"].price_decimals
        result = _settled(env, broker, broker.place_order(_buy("PEPE-USD", "30")))
        order = exchange.order_by_client_id("acct", result.client_order_id)
        assert order is not None and result.filled_base == Decimal(repr(order.filled_base))
        assert broker.balances().holding("PEPE") == result.base_delta
        assert float(result.avg_price) == pytest.approx(order.avg_price, rel=1e-9)
