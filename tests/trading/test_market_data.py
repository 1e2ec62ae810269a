"""One fetch per market per candle, shared by every account thread of a brokerage; indicators once per candle.

The exchange is faked by a small Broker subclass that serves real candles and counts every call
(it stands in for the exchange, not for our code); the service under test is the real one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal

import pandas as pd
import pytest

from bot.backtest.data import read_candles
from bot.brokers.base import MarketInfo
from bot.brokers.errors import ExchangeUnavailable
from bot.clock import ManualClock
from bot.config.sections.strategy import StrategySettings
from bot.trading.market_data import MarketDataService
from tests.trading.stand_in_exchange import StandInExchange

S = StrategySettings()  # 5-minute candles, 100 of them
CANDLE = S.candle_minutes * 60
START = 1_700_000_000.0 // CANDLE * CANDLE + 7  # 7 s into a candle
SYMBOLS = [f"M{i:02d}-USD" for i in range(50)]


class CountingExchange(StandInExchange):
    """Stands in for an exchange's public market data: real candle shapes, every call counted."""

    name = "fake"

    def __init__(self, source: pd.DataFrame, clock: ManualClock, failing: Iterable[str] = ()) -> None:
        super().__init__(account_label="fake:public", clock=clock)
        self.source = source
        self.calls: Counter[str] = Counter()
        self.failing = set(failing)
        self.gate: threading.Event | None = None  # when set by a test, candle calls wait for it
        self.lag = 0  # candles the exchange is late in publishing
        self._lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()

    def _load_markets(self) -> dict[str, MarketInfo]:
        return {symbol: MarketInfo(symbol, symbol.split("-")[0], "USD", symbol, Decimal("0.0001"), Decimal(1), 8, 2,
                                   0.0) for symbol in SYMBOLS}

    def candles(self, symbol: str, minutes: int, count: int) -> pd.DataFrame:
        with self._lock:
            self.calls[f"candles:{symbol}"] += 1
            self.calls["candles"] += 1
            self.in_flight[symbol] += 1
            self.max_in_flight[symbol] = max(self.max_in_flight[symbol], self.in_flight[symbol])
        try:
            if self.gate is not None:
                self.gate.wait(10)
            if symbol in self.failing:
                raise ExchangeUnavailable("503 from the fake exchange", broker=self.name)
            period = int(self.clock.now() // (minutes * 60)) - self.lag
            offset = (int(symbol[1:3]) * 37 + period) % (len(self.source) - count)
            frame = self.source.iloc[offset : offset + count].reset_index(drop=True)
            frame["time"] = [(period - count + i) * minutes * 60 for i in range(count)]  # the last one just closed
            return frame
        finally:
            with self._lock:
                self.in_flight[symbol] -= 1


@pytest.fixture(scope="module")
def source(data_dir) -> pd.DataFrame:
    return read_candles(data_dir / "coinbase" / "ETH-USD_15m.csv.gz").iloc[:20_000]


def run_accounts(service: MarketDataService, accounts: int, symbols: Sequence[str] = SYMBOLS) -> list[list]:
    """`accounts` threads each run one scan cycle over the same markets at the same moment."""
    barrier = threading.Barrier(accounts)
    answers: list[list] = [[] for _ in range(accounts)]
    errors: list[BaseException] = []

    def cycle(index: int) -> None:
        try:
            barrier.wait()
            answers[index] = [service.scan(symbols), service.last_candles(symbols)]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=cycle, args=(i,)) for i in range(accounts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    return answers


@pytest.mark.parametrize("accounts", [1, 10])
def test_one_fetch_per_market_per_candle_whatever_the_number_of_accounts(source: pd.DataFrame, accounts: int) -> None:
    clock = ManualClock(START)
    exchange = CountingExchange(source, clock)
    service = MarketDataService(exchange, S, clock)

    answers = run_accounts(service, accounts)

    assert exchange.calls["candles"] == len(SYMBOLS)  # 50 calls for 1 account and for 10
    assert all(exchange.calls[f"candles:{sym}"] == 1 for sym in SYMBOLS)
    assert service.stats().indicator_computations == len(SYMBOLS)
    assert all(answer == answers[0] for answer in answers)  # every account sees the same shared result
    assert len(answers[0][1]) == len(SYMBOLS)
    assert max(exchange.max_in_flight.values()) == 1  # never two fetches of one market at once


def test_cache_lasts_one_candle_then_refreshes_once(source: pd.DataFrame) -> None:
    clock = ManualClock(START)
    exchange = CountingExchange(source, clock)
    service = MarketDataService(exchange, S, clock)
    first = service.last_candles(SYMBOLS)
    clock.advance(CANDLE - 8)  # still the same candle
    service.scan(SYMBOLS)
    assert exchange.calls["candles"] == len(SYMBOLS)
    clock.advance(1)  # the next candle has closed
    run_accounts(service, 4)
    assert exchange.calls["candles"] == 2 * len(SYMBOLS)
    assert service.stats().indicator_computations == 2 * len(SYMBOLS)
    second = service.last_candles(SYMBOLS)
    assert all(second[sym].time == first[sym].time + CANDLE for sym in SYMBOLS)


def test_waiting_threads_share_the_first_threads_fetch(source: pd.DataFrame) -> None:
    clock = ManualClock(START)
    exchange = CountingExchange(source, clock)
    exchange.gate = threading.Event()
    service = MarketDataService(exchange, S, clock)
    started = threading.Barrier(6)
    frames: list[pd.DataFrame | None] = []

    def ask() -> None:
        started.wait()
        frames.append(service.candles("M01-USD"))

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for thread in threads:
        thread.start()
    started.wait()
    exchange.gate.set()
    for thread in threads:
        thread.join()
    assert exchange.calls["candles:M01-USD"] == 1
    assert len(frames) == 5 and all(frame is frames[0] for frame in frames)


def test_a_late_candle_is_asked_for_again_after_the_retry_delay(source: pd.DataFrame) -> None:
    clock = ManualClock(START)
    exchange = CountingExchange(source, clock)
    exchange.lag = 1  # the exchange has not published the candle that just closed
    service = MarketDataService(exchange, S, clock)
    late = service.candles("M00-USD")
    assert late is not None
    clock.advance(S.candle_retry_seconds - 1)
    assert service.candles("M00-USD") is late  # not hammering the exchange
    assert exchange.calls["candles"] == 1
    exchange.lag = 0
    clock.advance(1)
    fresh = service.candles("M00-USD")
    assert exchange.calls["candles"] == 2
    assert fresh is not None and fresh["time"].iloc[-1] == late["time"].iloc[-1] + CANDLE
    clock.advance(60)
    service.candles("M00-USD")
    assert exchange.calls["candles"] == 2  # complete now: no more fetches this candle


def test_a_market_without_recent_candles_is_not_retried(source: pd.DataFrame) -> None:
    clock = ManualClock(START)
    exchange = CountingExchange(source, clock)
    exchange.lag = 12  # e.g. a stock market closed for the night: asking again changes nothing
    service = MarketDataService(exchange, S, clock)
    service.candles("M00-USD")
    clock.advance(S.candle_retry_seconds * 5)
    service.candles("M00-USD")
    assert exchange.calls["candles"] == 1


def test_a_failing_market_does_not_stop_the_scan(source: pd.DataFrame) -> None:
    clock = ManualClock(START)
    exchange = CountingExchange(source, clock, failing={"M03-USD"})
    service = MarketDataService(exchange, S, clock)
    results = service.last_candles(SYMBOLS)
    assert set(results) == set(SYMBOLS) - {"M03-USD"}
    assert "ExchangeUnavailable" in service.last_errors["M03-USD"]
    service.last_candles(SYMBOLS)  # a failure is not cached: the next cycle asks again
    assert exchange.calls["candles:M03-USD"] == 2 and exchange.calls["candles:M04-USD"] == 1


def test_an_open_candle_from_the_exchange_is_ignored(source: pd.DataFrame) -> None:
    clock = ManualClock(START)

    class WithOpenCandle(CountingExchange):
        def candles(self, symbol: str, minutes: int, count: int) -> pd.DataFrame:
            frame = super().candles(symbol, minutes, count)
            extra = frame.iloc[[-1]].assign(time=frame["time"].iloc[-1] + minutes * 60)
            return pd.concat([frame, extra], ignore_index=True)

    service = MarketDataService(WithOpenCandle(source, clock), S, clock)
    frame = service.candles("M00-USD")
    assert frame is not None and frame["time"].iloc[-1] + CANDLE <= clock.now()


# ---- against the exchange simulator, through the real Kraken adapter ---------------------------------


class CountingPrices:
    """The simulated exchange's price feed, passed through unchanged, counting candle requests per market."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.candle_requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def symbols(self) -> list[str]:
        return self.inner.symbols()  # type: ignore[attr-defined,no-any-return]

    def spec(self, symbol: str):  # type: ignore[no-untyped-def]
        return self.inner.spec(symbol)  # type: ignore[attr-defined]

    def price(self, symbol: str, t: float) -> float:
        return self.inner.price(symbol, t)  # type: ignore[attr-defined,no-any-return]

    def candles(self, symbol: str, minutes: int, end_time: float, count: int):  # type: ignore[no-untyped-def]
        with self._lock:
            self.candle_requests[symbol] += 1
        return self.inner.candles(symbol, minutes, end_time, count)  # type: ignore[attr-defined]


@pytest.mark.parametrize("accounts", [1, 10])
def test_kraken_adapter_on_the_simulator_fetches_each_market_once(tmp_path, accounts: int) -> None:
    from bot.brokers.factory import make_broker
    from bot.config.accounts import AccountConfig, Role
    from bot.config.settings import load_settings
    from bot.sim.exchange import SimExchange
    from bot.sim.prices import SyntheticMarket
    from bot.sim.server import SimulatorServer
    from bot.trading.market_selection import load_universe

    start = 1_750_000_000.0 // CANDLE * CANDLE + 30
    clock = ManualClock(start)
    prices = CountingPrices(SyntheticMarket(seed=11, n_markets=30, start_time=start - 86_400))
    exchange = SimExchange(prices, clock, seed=11)
    with SimulatorServer(exchange, faces=("kraken",)) as server:
        credentials = server.provision("kraken", "master", {"USD": 1_000.0})
        server.face("kraken").set_rate_limit(credentials.api_key, 1e6, 1e6)  # type: ignore[attr-defined]
        settings = load_settings(
            {"KRAKEN_API_URL": server.url("kraken"), "NIJA_STATE_DIR": str(tmp_path), "EXCHANGE_TIMEOUT_SECONDS": "5",
             "KRAKEN_RATE_COUNTER_MAX": "1000000", "KRAKEN_RATE_DECAY_PER_SECOND": "1000000"},
            env_file=None,
        )
        account = AccountConfig("kraken", "master", Role.MASTER, "master", credentials=credentials)
        broker = make_broker(account, settings, clock, tmp_path / "brokers")
        try:
            symbols = load_universe(broker, settings.strategy).symbols
            assert len(symbols) >= 25
            prices.candle_requests.clear()  # the tickers' 24 h volumes read candles too: count the scan only
            service = MarketDataService(broker, settings.strategy, clock)
            answers = run_accounts(service, accounts, symbols)
        finally:
            broker.close()
    assert sum(prices.candle_requests.values()) == len(symbols)  # one request per market, 1 or 10 accounts
    assert set(prices.candle_requests) == set(symbols)
    assert service.stats().candle_fetches == len(symbols)
    assert service.stats().indicator_computations == len(symbols)
    assert all(answer == answers[0] for answer in answers)
    frame = service.candles(symbols[0])
    assert frame is not None and len(frame) == settings.strategy.candle_count
    assert frame["time"].iloc[-1] + CANDLE <= clock.now()  # closed candles only
