"""Empty or stale market data is a state (issue 11, #7): logged with the reason, left out of entries, and an
account's health problem with its fix, naming the clock skew when the exchange's own time shows one.

The clock case runs the real Kraken adapter against the simulator, with this machine's clock set hours
away from the exchange's; the stale case uses a stand-in exchange whose candles stop coming.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

import pandas as pd
import pytest

from bot.brokers.base import MarketInfo
from bot.brokers.errors import ExchangeUnavailable
from bot.brokers.factory import make_broker
from bot.candles import empty_candles
from bot.clock import ManualClock
from bot.config.accounts import AccountConfig, Role
from bot.config.sections.strategy import StrategySettings
from bot.config.sections.trader import TraderSettings
from bot.trading.market_data import MarketDataService
from tests.brokers.conftest import ContractEnv, kraken  # noqa: F401 - the simulator fixture
from tests.trading.stand_in_exchange import StandInExchange

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD"]
STRATEGY = StrategySettings(candle_minutes=5, candle_count=60)


@pytest.mark.parametrize(("offset_hours", "words"), [(3.0, "3 h 0 min ahead of kraken's"),
                                                     (-3.0, "3 h 0 min behind kraken's")])
def test_a_clock_far_from_the_exchanges_is_named_with_its_fix(
    kraken: ContractEnv, caplog: pytest.LogCaptureFixture, offset_hours: float, words: str  # noqa: F811
) -> None:
    ours = ManualClock(kraken.clock.now() + offset_hours * 3600)  # this machine's clock; the exchange keeps its own
    credentials = kraken.provision("acct", {"USD": 1_000.0})
    account = AccountConfig("kraken", "acct", Role.MASTER, "acct", credentials=credentials)
    broker = make_broker(account, kraken.settings(), ours, kraken.tmp / "brokers")
    service = MarketDataService(broker, STRATEGY, ours, TraderSettings())
    with caplog.at_level(logging.INFO):
        signals = service.scan(SYMBOLS)
        problem = service.problem(SYMBOLS)
    assert signals == []
    assert problem is not None and words in problem.reason and "timedatectl set-ntp true" in problem.fix
    assert any("clock is 3 h 0 min" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    if offset_hours > 0:  # every candle the exchange has is hours old by this machine's clock
        assert problem.reason.startswith("no usable candles for 4 of 4 markets (BTC-USD: its last candle closed 3 h")
        assert set(service.issues()) == set(SYMBOLS)
        assert sum("left out of entries" in r.getMessage() for r in caplog.records) == len(SYMBOLS)


class StoppedMarkets(StandInExchange):
    """An exchange whose candles for some markets stopped an hour ago; `closed` markets are not trading now."""

    name = "fake"

    def __init__(self, clock: ManualClock, stopped: set[str], closed: set[str] = frozenset(),
                 empty: set[str] = frozenset()) -> None:
        super().__init__(account_label="fake:public", clock=clock)
        self.stopped = stopped
        self.closed = closed
        self.empty = empty
        self.hours_asked = 0
        self.hours_down = False  # when set, the market-hours call fails as a busy exchange's does

    def candles(self, symbol: str, minutes: int, count: int) -> pd.DataFrame:
        if symbol in self.empty:
            return empty_candles()
        seconds = minutes * 60
        last = int(self.clock.now() // seconds) - 1 - (12 if symbol in self.stopped else 0)
        times = [(last - count + 1 + i) * seconds for i in range(count)]
        return pd.DataFrame({"time": times, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})

    def _load_markets(self) -> dict[str, MarketInfo]:
        """The `closed` markets are stocks (one exchange clock, closed now); the others crypto (always open)."""
        return {symbol: MarketInfo(symbol, symbol.split("-")[0], "USD", symbol, Decimal("0.0001"), Decimal(1), 8, 2,
                                   0.0, asset_class="stock" if symbol in self.closed else "crypto")
                for symbol in self.stopped | self.closed | self.empty}

    def market_is_open(self, symbol: str) -> bool:
        self.hours_asked += 1
        if self.hours_down:
            raise ExchangeUnavailable("503 from the fake exchange", broker=self.name)
        return symbol not in self.closed


def test_stale_markets_are_logged_left_out_and_degrade_only_past_the_share(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(1_749_999_900.0)  # on a candle boundary
    markets = [f"M{i}-USD" for i in range(10)]
    exchange = StoppedMarkets(clock, stopped={"M0-USD", "M2-USD"}, closed={"M2-USD"}, empty={"M1-USD"})
    service = MarketDataService(exchange, STRATEGY, clock, TraderSettings())
    with caplog.at_level(logging.WARNING):
        service.results(markets)
    assert service.issues() == {
        "M0-USD": "its last candle closed 1 h 0 min ago (stale after 2 candles of 5 min)",
        "M1-USD": "the exchange returned no candles",
    }  # M2-USD's market is closed: old candles are what a closed market has
    assert [r.getMessage() for r in caplog.records] == [
        "fake M0-USD: its last candle closed 1 h 0 min ago (stale after 2 candles of 5 min); left out of entries "
        "until its candles are fresh",
        "fake M1-USD: the exchange returned no candles; left out of entries until its candles are fresh",
    ]
    assert service.problem(markets) is None  # 2 of 10: not over 20 %
    problem = service.problem(markets[:5])
    assert problem is not None and problem.reason.startswith("no usable candles for 2 of 5 markets (M0-USD: its "
                                                             "last candle closed 1 h 0 min ago")
    assert "status page" in problem.fix


class SlowTime(StandInExchange):
    """An exchange whose Time call waits for the test's gate, counting every call."""

    name = "fake"

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(account_label="fake:public", clock=clock)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.time_calls = 0
        self._count_lock = threading.Lock()

    def server_time(self) -> float:
        with self._count_lock:
            self.time_calls += 1
        self.entered.set()
        self.gate.wait(10)
        return self.clock.now()


def test_the_exchanges_time_is_asked_once_per_period_however_many_accounts_ask() -> None:
    clock = ManualClock(1_749_999_900.0)
    exchange = SlowTime(clock)
    service = MarketDataService(exchange, STRATEGY, clock, TraderSettings())
    started = threading.Barrier(6)

    def ask() -> None:
        started.wait()
        service.problem(SYMBOLS)

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for thread in threads:
        thread.start()
    started.wait()
    assert exchange.entered.wait(10)
    exchange.gate.set()
    for thread in threads:
        thread.join()
    assert exchange.time_calls == 1


def test_market_hours_are_asked_once_per_period_per_asset_class_and_a_failure_stops_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(1_749_999_900.0)
    stocks = {f"S{i}-USD" for i in range(8)}  # stale and closed: old candles are what a closed market has
    exchange = StoppedMarkets(clock, stopped=stocks | {"C0-USD", "C1-USD"}, closed=stocks)
    service = MarketDataService(exchange, STRATEGY, clock, TraderSettings())
    markets = sorted(exchange.stopped)
    service.results(markets)
    assert exchange.hours_asked == 2  # once for the stocks, once for crypto: not once per stale market
    assert set(service.issues()) == {"C0-USD", "C1-USD"}
    clock.advance(STRATEGY.candle_minutes * 60)
    exchange.hours_down = True
    with caplog.at_level(logging.WARNING):
        frames = [service.candles(symbol) for symbol in markets]  # the hours call fails: no market is stopped
    assert all(frame is not None and len(frame) == STRATEGY.candle_count for frame in frames)
    assert set(service.issues()) == set(markets)  # unknown hours: old candles stay out of entries
    assert any("hours of" in r.getMessage() for r in caplog.records)
