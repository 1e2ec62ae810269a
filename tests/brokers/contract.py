"""The adapter contract: one base class holding every check, inherited by one small class per brokerage.

Each brokerage's class (tests/brokers/test_contract.py) says only how to reach its simulator face and
how its venue behaves where venues differ (does a market order fill in the answer, where is the fee
taken, are there stocks with market hours, what does a refused key look like); every check below then
runs against that face over real HTTP with the real SDK. The model is hummingbot's
``ExchangeConnectorTests``: adding a brokerage means writing its class, and it inherits the whole contract.

The classes here are not collected by pytest themselves (no ``Test`` prefix); their subclasses are.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

from bot.brokers.base import Broker, OrderRequest, OrderResult, OrderStatus, Side, new_client_order_id
from bot.brokers.errors import AuthenticationError, ExchangeUnavailable, RateLimitError
from bot.clock import ManualClock
from bot.config.accounts import Credentials
from bot.sim.exchange import SimExchange
from bot.sim.faces.base import Face
from bot.sim.prices import PriceSource, SyntheticMarket
from bot.sim.server import SimulatorServer
from tests.brokers.conftest import START, Brokerage, ContractEnv

DELAY = 5.0  # simulated seconds a venue takes to fill an accepted order in the "fills later" checks


class AdapterContract:
    """Everything an adapter promises. Subclasses set the class attributes and may override the hooks."""

    brokerage: ClassVar[Brokerage]  # the face, its order endpoint and the settings that point the adapter at it
    balances_endpoint: ClassVar[str]  # the face's endpoint name for the balance call (fault target)
    rate_limit_error: ClassVar[str]  # a forced error the face answers as its venue's "slow down"
    fills_in_the_answer: ClassVar[bool] = True  # a market order is FILLED in the answer (else: OPEN, fills later)
    fee_from_coin_on_buys: ClassVar[bool] = False  # the venue takes a buy's fee out of the coin received
    partial_fills: ClassVar[bool] = False  # large market orders fill in parts
    stock_symbol: ClassVar[str | None] = None  # a stock with market hours on this venue
    stock_hours: ClassVar[tuple[float, float, float] | None] = None  # a time it is open, then closed, then the open
    huge_symbol: ClassVar[str] = "SHIB-USD"

    # ---- hooks ------------------------------------------------------------------------------------------
    def price_source(self) -> PriceSource:
        return SyntheticMarket(seed=7, n_markets=24, start_time=self.start_time())

    def start_time(self) -> float:
        return START

    def refused_keys(self, real: Credentials) -> dict[str, Credentials]:
        """Credentials the venue refuses, by how it refuses them; each must read as AuthenticationError."""
        raise NotImplementedError

    # ---- the running face -------------------------------------------------------------------------------
    @pytest.fixture
    def env(self, tmp_path: Path) -> Iterator[ContractEnv]:
        clock = ManualClock(self.start_time())
        exchange = SimExchange(self.price_source(), clock, seed=7)
        with SimulatorServer(exchange, faces=(self.brokerage.face,)) as server:
            # Fills follow the simulated clock alone (no real-time cap): every check is deterministic.
            server.face(self.brokerage.face).fill_wall_cap_seconds = None
            yield ContractEnv(self.brokerage, self.brokerage.face, exchange, server, clock, tmp_path)

    @staticmethod
    def face(env: ContractEnv) -> Face:
        return env.server.face(env.brokerage.face)

    @staticmethod
    def buy(symbol: str, usd: str = "50") -> OrderRequest:
        return OrderRequest(symbol, Side.BUY, new_client_order_id(), quote_notional=Decimal(usd))

    @staticmethod
    def sell(symbol: str, qty: Decimal) -> OrderRequest:
        return OrderRequest(symbol, Side.SELL, new_client_order_id(), base_qty=qty)

    def settled(self, env: ContractEnv, broker: Broker, result: OrderResult) -> OrderResult:
        """What the caller does with an order that is not final: let the venue's time pass, look it up."""
        if not result.status.is_final:
            env.clock.advance(2 * max(self.face(env).fill_delay_seconds, DELAY))
            result = broker.settle(result)
        return result

    def executed(self, env: ContractEnv, broker: Broker, request: OrderRequest) -> OrderResult:
        result = self.settled(env, broker, broker.place_order(request))
        assert result.status is OrderStatus.FILLED, result
        return result

    # ---- balances, markets, candles ----------------------------------------------------------------------
    def test_balances_report_cash_holdings_and_equity(self, env: ContractEnv) -> None:
        broker = env.broker("acct", {"USD": 1_000.0, "ETH": 2.0})
        snapshot = broker.balances()
        eth_price = env.exchange.price("ETH-USD")
        assert snapshot.cash_total == pytest.approx(1_000.0)
        assert snapshot.holding("ETH") == Decimal(2) and isinstance(snapshot.holding("ETH"), Decimal)
        assert snapshot.assets["USD"].total == Decimal(1000)
        assert snapshot.equity == pytest.approx(1_000.0 + 2.0 * eth_price, rel=1e-3)

    def test_markets_carry_the_exchange_rules(self, env: ContractEnv) -> None:
        markets = env.broker().markets()
        sim = env.exchange.markets()
        assert set(markets) >= {"BTC-USD", "ETH-USD", self.huge_symbol}
        for symbol in ("BTC-USD", self.huge_symbol):
            assert markets[symbol].min_base_qty == Decimal(repr(sim[symbol].min_base_qty))
            assert markets[symbol].price_decimals == sim[symbol].price_decimals
            assert markets[symbol].base_decimals >= sim[symbol].base_decimals  # Alpaca trades crypto to 9

    def test_candles_are_closed_and_ascending(self, env: ContractEnv) -> None:
        frame = env.broker().candles("ETH-USD", 5, 50)
        assert len(frame) == 50
        assert list(frame["time"]) == sorted(frame["time"])
        assert int(frame["time"].iloc[-1]) + 300 <= env.clock.now()  # the open candle is left out
        expected = env.exchange.candles("ETH-USD", 5, 51)[:-1]
        assert frame["close"].tolist() == pytest.approx([row[4] for row in expected], abs=0.01)

    # ---- orders: the life cycle ------------------------------------------------------------------------
    def test_a_market_order_fills_in_the_answer_or_stays_open_until_looked_up(self, env: ContractEnv) -> None:
        broker = env.broker()
        request = self.buy(self.brokerage.symbol)
        answer = broker.place_order(request)
        if self.fills_in_the_answer:
            assert answer.status is OrderStatus.FILLED
        else:  # accepted, not final: the caller must not book it, and must not send it again
            assert answer.status is OrderStatus.OPEN and answer.filled_base == 0 and not answer.status.is_final
            assert broker.get_order(request.client_order_id, request.symbol).status is OrderStatus.OPEN  # type: ignore[union-attr]
        filled = self.settled(env, broker, answer)
        assert filled.status is OrderStatus.FILLED and filled.filled_base > 0 and filled.avg_price > 0
        assert filled.exchange_order_id == answer.exchange_order_id
        assert len(env.exchange.orders_by_client_id("acct", request.client_order_id)) == 1

    def test_an_order_accepted_now_and_filled_later_is_settled_by_look_up(self, env: ContractEnv) -> None:
        self.face(env).fill_delay_seconds = DELAY  # every venue can answer before it fills
        broker = env.broker()
        request = self.buy(self.brokerage.symbol)
        answer = broker.place_order(request)
        assert answer.status is OrderStatus.OPEN and answer.filled_base == 0
        assert broker.settle(answer).status is OrderStatus.OPEN  # looked up: still open, nothing guessed
        assert [o.client_order_id for o in broker.open_orders()] == [request.client_order_id]
        env.clock.advance(DELAY)
        filled = broker.settle(answer)
        assert filled.status is OrderStatus.FILLED and filled.filled_base > 0
        assert filled.time == pytest.approx(self.start_time() + DELAY)  # when the venue filled it, not the look-up
        assert broker.balances().holding(filled.symbol.split("-")[0]) == filled.base_delta
        assert broker.open_orders() == []
        assert len(env.exchange.orders_by_client_id("acct", request.client_order_id)) == 1

    def test_a_partial_fill_is_not_final(self, env: ContractEnv) -> None:
        if not self.partial_fills:
            pytest.skip(f"{self.brokerage.face} market orders fill in one execution")
        broker = env.broker("whale", {"USD": 200_000.0})
        answer = broker.place_order(self.buy("BTC-USD", "60000"))
        env.clock.advance(self.face(env).fill_delay_seconds)
        part = broker.settle(answer)
        assert part.status is OrderStatus.PARTIALLY_FILLED and part.filled_base > 0 and not part.status.is_final
        env.clock.advance(self.face(env).fill_delay_seconds)
        done = broker.settle(part)
        assert done.status is OrderStatus.FILLED and done.filled_base > part.filled_base
        assert broker.balances().holding("BTC") == done.base_delta

    def test_order_refused_with_the_exchange_reason(self, env: ContractEnv) -> None:
        broker = env.broker("poor", {"USD": 20.0})
        result = broker.place_order(self.buy(self.brokerage.symbol, "5000"))
        assert result.status is OrderStatus.REJECTED
        assert "insufficient" in result.reason.lower()
        assert env.exchange.orders("poor") == []

    def test_order_looked_up_by_client_id(self, env: ContractEnv) -> None:
        broker = env.broker()
        placed = self.executed(env, broker, self.buy(self.brokerage.symbol))
        found = broker.get_order(placed.client_order_id, placed.symbol)
        assert found is not None and found.exchange_order_id == placed.exchange_order_id
        assert (found.filled_base, found.fee_base, found.filled_quote) == (
            placed.filled_base, placed.fee_base, placed.filled_quote)
        assert broker.get_order(new_client_order_id(), placed.symbol) is None

    # ---- amounts ------------------------------------------------------------------------------------------
    def test_quote_notional_is_the_total_spend_fee_included(self, env: ContractEnv) -> None:
        """A buy of 200 USD costs the account 200 USD with the fee on every venue, whatever the venue's parameter."""
        broker = env.broker("acct", {"USD": 1_000.0})
        result = self.executed(env, broker, self.buy(self.brokerage.symbol, "200"))
        spent = 1_000.0 - env.exchange.balances("acct")["USD"].total
        assert float(-result.quote_delta) == pytest.approx(spent, abs=1e-4)
        assert 199.9 <= spent <= 200.0

    def test_the_fee_is_booked_where_the_venue_takes_it(self, env: ContractEnv) -> None:
        broker = env.broker("acct", {"USD": 1_000.0})
        bought = self.executed(env, broker, self.buy("ETH-USD", "500"))
        held = broker.balances().holding("ETH")
        assert held == bought.base_delta  # what the account holds, exactly: not the gross fill
        if self.fee_from_coin_on_buys:
            assert bought.fee_base > 0 and bought.fee_quote == 0 and held < bought.filled_base
        else:
            assert bought.fee_base == 0 and bought.fee_quote > 0 and held == bought.filled_base
        usd_before = broker.balances().assets["USD"].total
        sold = self.executed(env, broker, self.sell("ETH-USD", held))
        assert sold.filled_base == held and sold.fee_base == 0 and sold.fee_quote > 0  # a sale's fee is in dollars
        after = broker.balances()
        assert after.holding("ETH") == 0  # sold to the last unit: no dust left behind
        assert float(after.assets["USD"].total - usd_before) == pytest.approx(float(sold.quote_delta), abs=1e-4)

    def test_exact_decimals_for_tiny_and_huge_quantities(self, env: ContractEnv) -> None:
        huge = Decimal(45_268_470)
        broker = env.broker("acct", {"USD": 5_000.0, "BTC": 0.00012345})
        tiny = self.executed(env, broker, self.sell("BTC-USD", Decimal("0.00012345")))
        assert tiny.filled_base == Decimal("0.00012345") and broker.balances().holding("BTC") == 0
        bought = self.executed(env, broker, OrderRequest(self.huge_symbol, Side.BUY, new_client_order_id(),
                                                         base_qty=huge))
        assert bought.filled_base == huge  # 45,268,470, not a tenth of it
        base = self.huge_symbol.split("-")[0]
        held = broker.balances().holding(base)
        assert held == bought.base_delta and held > huge * Decimal("0.99")
        sold = self.executed(env, broker, self.sell(self.huge_symbol, held))
        assert sold.filled_base == held and broker.balances().holding(base) == 0

    # ---- failures: lost answers, time-outs, 5xx, rate limits, refused keys --------------------------------
    def test_order_timed_out_is_looked_up_not_resent(self, env: ContractEnv) -> None:
        # The order's answer hangs well past the time-out; the look-ups after it must not time out on a loaded
        # machine, so the time-out is not tiny.
        broker = env.broker(exchange_timeout_seconds="1")
        broker.markets()
        env.exchange.faults.set(face=self.brokerage.face, endpoint=self.brokerage.order_endpoint,
                                hang_rate=1.0, hang_seconds=2.5)
        request = self.buy(self.brokerage.symbol)
        assert self.settled(env, broker, broker.place_order(request)).status is OrderStatus.FILLED
        assert len(env.exchange.orders_by_client_id("acct", request.client_order_id)) == 1

    def test_lost_answer_after_execution_is_found_by_client_id_never_sent_twice(self, env: ContractEnv) -> None:
        broker = env.broker()
        broker.markets()
        env.exchange.faults.set(face=self.brokerage.face, endpoint=self.brokerage.order_endpoint,
                                drop_after_execute_rate=1.0)
        request = self.buy(self.brokerage.symbol)
        result = self.settled(env, broker, broker.place_order(request))
        assert result.status is OrderStatus.FILLED
        assert env.exchange.faults.counts.get("drop") == 1
        assert len(env.exchange.orders_by_client_id("acct", request.client_order_id)) == 1

    def test_exchange_down_is_transient_and_orders_stay_in_flight(self, env: ContractEnv) -> None:
        broker = env.broker()
        broker.markets()
        env.exchange.faults.set(face=self.brokerage.face, http_5xx_rate=1.0)
        with pytest.raises(ExchangeUnavailable):
            broker.balances()
        result = broker.place_order(self.buy(self.brokerage.symbol))
        assert result.status is OrderStatus.IN_FLIGHT  # unknown outcome is never reported as rejected
        assert env.exchange.orders("acct") == []

    def test_rate_limit_is_transient_and_orders_stay_in_flight(self, env: ContractEnv) -> None:
        broker = env.broker(alpaca_sdk_retries="0")
        broker.markets()
        faults = env.exchange.faults
        faults.set(face=self.brokerage.face, endpoint=self.balances_endpoint, forced_error=self.rate_limit_error)
        with pytest.raises(RateLimitError):
            broker.balances()
        faults.set(face=self.brokerage.face, endpoint=self.brokerage.order_endpoint,
                   forced_error=self.rate_limit_error)
        result = broker.place_order(self.buy(self.brokerage.symbol))
        assert result.status is OrderStatus.IN_FLIGHT and env.exchange.orders("acct") == []

    def test_in_flight_order_is_settled_by_lookup_never_guessed(self, env: ContractEnv) -> None:
        broker = env.broker()
        broker.markets()
        env.exchange.faults.set(face=self.brokerage.face, http_5xx_rate=1.0)
        in_flight = broker.place_order(self.buy(self.brokerage.symbol))
        assert in_flight.status is OrderStatus.IN_FLIGHT
        env.exchange.faults.clear()
        # The exchange now answers "no such order", but a hung request could still land: keep it in flight.
        assert broker.settle(in_flight).status is OrderStatus.IN_FLIGHT
        env.clock.advance(broker.unknown_order_grace_seconds + 1)
        settled = broker.settle(in_flight)
        assert settled.status is OrderStatus.REJECTED
        assert settled.reason.startswith("never reached the exchange")

    def test_in_flight_order_that_executed_settles_as_filled(self, env: ContractEnv) -> None:
        broker = env.broker()
        broker.markets()
        env.exchange.faults.set(face=self.brokerage.face, drop_after_execute_rate=1.0)
        request = self.buy(self.brokerage.symbol)
        in_flight = broker.place_order(request)
        env.exchange.faults.clear()
        if in_flight.status is OrderStatus.IN_FLIGHT:  # every lookup was dropped too
            in_flight = broker.settle(in_flight)
        assert self.settled(env, broker, in_flight).status is OrderStatus.FILLED
        assert len(env.exchange.orders_by_client_id("acct", request.client_order_id)) == 1

    def test_a_refused_key_is_an_authentication_error(self, env: ContractEnv) -> None:
        real = env.provision("acct", {"USD": 100.0})
        refused = self.refused_keys(real)
        assert refused
        for how, credentials in refused.items():
            broker = env.broker("acct", credentials=credentials)
            with pytest.raises(AuthenticationError):
                broker.balances()
            with pytest.raises(AuthenticationError):  # never an in-flight or rejected order
                broker.place_order(self.buy(self.brokerage.symbol))
            assert env.exchange.orders("acct") == [], how

    # ---- stocks: market hours -----------------------------------------------------------------------------
    def test_a_stock_order_while_the_market_is_closed_is_sent_and_fills_at_the_open(self, env: ContractEnv) -> None:
        """A day order is accepted while the market is closed and fills at the open: exits and their copies
        happen, nothing is refused before sending. The caller settles it by look-up."""
        if self.stock_symbol is None or self.stock_hours is None:
            pytest.skip(f"{self.brokerage.face} lists no stocks")
        is_open, closed, next_open = self.stock_hours
        symbol, base = self.stock_symbol, self.stock_symbol.split("-")[0]
        env.clock.set(is_open)
        broker = env.broker("acct", {"USD": 1_000.0})
        bought = self.executed(env, broker, self.buy(symbol, "200"))
        env.clock.set(closed)
        assert broker.market_is_open(symbol) is False
        held = broker.balances().holding(base)
        assert held == bought.base_delta
        sale = broker.place_order(self.sell(symbol, held))  # half an exit or a whole one: it goes out
        entry = broker.place_order(self.buy(symbol, "100"))
        for answer in (sale, entry):
            assert answer.status is OrderStatus.OPEN and answer.exchange_order_id, answer
        env.clock.advance(6 * 3600)  # still closed: still waiting, the shares on hold
        assert broker.settle(sale).status is OrderStatus.OPEN
        assert broker.balances().assets[base].available == 0
        env.clock.set(next_open)
        sold, bought_again = broker.settle(sale), broker.settle(entry)
        assert sold.status is OrderStatus.FILLED and sold.filled_base == held
        assert bought_again.status is OrderStatus.FILLED
        assert broker.balances().holding(base) == bought_again.base_delta
