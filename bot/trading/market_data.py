"""Market data shared by all account threads of one brokerage (docs/rules.md §4, "Scanning").

One MarketDataService per brokerage, built on one Broker used for public data only. Candles
of a market are fetched at most once per candle period, however many account threads ask,
and never twice at the same time (a per-market lock: the second thread waits for the first
thread's answer). Indicators and the entry signal of a market are computed once per closed
candle, in one vectorised pass over every market that needs them, and shared.

An exchange may publish a closed candle a little late: when the fetched candles end one
candle short of the one that just closed, the market is asked again after
`candle_retry_seconds`, not before (older data, e.g. a closed stock market, is not retried).
A failed fetch is not cached (the next caller asks again) and never stops the other markets.

Missing market data is a state, not silence (docs/rules.md §3): a market whose fetch returns no
candles, or whose last candle closed more than CANDLE_STALE_PERIODS candles ago while its market is
open, is logged once with the reason and left out of entries until fresh candles come. When more
than HEALTH_DEGRADED_SHARE of an account's markets are like that, ``problem`` says so for its health
(degraded, with the fix), naming the clock skew when the exchange's own time shows one (a clock far
ahead asks Kraken for candles "since" a moment that has not come yet, and gets none).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace

import pandas as pd

from bot.brokers.base import Broker
from bot.brokers.errors import BrokerError, MarketNotFound, TransientError
from bot.clock import Clock
from bot.config.sections.strategy import StrategySettings
from bot.config.sections.trader import TraderSettings
from bot.strategy.apex import EntrySignal, ScanResult, scan_frames
from bot.strategy.indicators import LastCandle
from bot.trading.health import Problem

log = logging.getLogger(__name__)


@dataclass
class _Cached:
    period: int  # the candle period (now // candle_seconds) this fetch belongs to
    candles: pd.DataFrame
    complete: bool  # False when the candle that just closed is missing: published late, ask again soon
    fetched_at: float
    result: ScanResult | None = None  # computed for these candles, shared by every account


@dataclass(frozen=True)
class MarketDataStats:
    candle_fetches: int
    indicator_computations: int  # markets whose indicators were computed (one per market per candle)
    fetch_errors: int


def duration_words(seconds: float) -> str:
    """3 h 2 min, 5 min 10 s, 40 s: a clock skew or an age in words."""
    seconds = abs(seconds)
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{seconds:.0f} s"


class MarketDataService:
    """Candles, indicators and entry signals of one brokerage's markets, cached per candle. Thread-safe."""

    def __init__(
        self, broker: Broker, settings: StrategySettings, clock: Clock | None = None,
        trader: TraderSettings | None = None,
    ) -> None:
        """trader: the thresholds of stale data and clock skew (TraderSettings' defaults when not given)."""
        self.broker = broker
        self.settings = settings
        self.trader = trader or TraderSettings()
        self.clock: Clock = clock or broker.clock
        self.candle_seconds = settings.candle_minutes * 60
        self._lock = threading.Lock()  # guards the dicts and counters below
        self._compute_lock = threading.Lock()  # one indicator pass at a time; the next finds them done
        self._symbol_locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, _Cached] = {}
        self._fetches = 0
        self._computations = 0
        self._errors = 0
        self.last_errors: dict[str, str] = {}
        self._issues: dict[str, str] = {}  # symbol -> why its candles cannot be used now
        self._hours_lock = threading.Lock()  # one market-hours question per asset class per period
        self._open: dict[str, tuple[int, bool]] = {}  # asset class -> (period, whether its markets trade)
        self._skew_lock = threading.Lock()  # one Time call per period: the other threads wait for its answer
        self._skew: tuple[int, float | None] | None = None  # (period, our clock minus the exchange's) once asked

    # ---- candles -------------------------------------------------------------------------
    def _period(self) -> int:
        return math.floor(self.clock.now() / self.candle_seconds)

    def _symbol_lock(self, symbol: str) -> threading.Lock:
        with self._lock:
            return self._symbol_locks.setdefault(symbol, threading.Lock())

    def candles(self, symbol: str) -> pd.DataFrame | None:
        """The closed candles of `symbol` for the current period (fetched once per period), or None on failure."""
        period = self._period()
        with self._symbol_lock(symbol):
            with self._lock:
                cached = self._cache.get(symbol)
            if cached is not None and cached.period == period and (
                cached.complete or self.clock.now() - cached.fetched_at < self.settings.candle_retry_seconds
            ):
                return cached.candles
            try:
                frame = self.broker.candles(symbol, self.settings.candle_minutes, self.settings.candle_count)
            except (TransientError, MarketNotFound) as error:
                with self._lock:
                    self._fetches += 1
                    self._errors += 1
                    self.last_errors[symbol] = f"{type(error).__name__}: {error}"
                log.warning("%s candles for %s unavailable: %s", self.broker.name, symbol, error)
                return None
            frame = self._closed_only(frame)
            # Retry only when exactly the candle that just closed is missing (published late). A market whose
            # last candle is older (closed stock market, no trades) will not change by asking again.
            late = len(frame) > 0 and int(frame["time"].iloc[-1]) == (period - 2) * self.candle_seconds
            complete = not late
            issue = self._issue(symbol, frame)
            with self._lock:
                before = self._issues.pop(symbol, None)
                if issue is not None:
                    self._issues[symbol] = issue
            if issue is not None and before is None:
                log.warning("%s %s: %s; left out of entries until its candles are fresh", self.broker.name, symbol,
                            issue)
            elif issue is None and before is not None:
                log.info("%s %s: candles are fresh again", self.broker.name, symbol)
            with self._lock:
                self._fetches += 1
                self.last_errors.pop(symbol, None)
                previous = self._cache.get(symbol)
                if previous is not None and self._same_last(previous.candles, frame):
                    frame = previous.candles  # nothing new: keep the shared frame and its computed result
                    keep = previous.result
                else:
                    keep = None
                self._cache[symbol] = _Cached(period, frame, complete, self.clock.now(), keep)
            return frame

    def _issue(self, symbol: str, frame: pd.DataFrame) -> str | None:
        """Why these candles cannot be used (none, or the last closed too long ago on an open market), or None."""
        if frame.empty:
            return "the exchange returned no candles"
        age = self.clock.now() - (int(frame["time"].iloc[-1]) + self.candle_seconds)
        if age > self.trader.candle_stale_periods * self.candle_seconds and self._market_open(symbol):
            return f"its last candle closed {duration_words(age)} ago (stale after " \
                   f"{self.trader.candle_stale_periods:g} candles of {self.settings.candle_minutes} min)"
        return None

    def _market_open(self, symbol: str) -> bool:
        """Whether `symbol`'s market trades now, asked once per candle period per asset class.

        Markets of one class keep the same hours (Alpaca's stocks share one clock, an HTTP call): asking per
        stale stock would cost a call per stock per period while the market is closed. When the exchange cannot
        say (a transient failure), the market counts as open, so its stale candles stay out of entries, and the
        next stale market asks again; one market's trouble never stops the others.
        """
        period = self._period()
        with self._hours_lock:
            try:
                asset_class = self.broker.market(symbol).asset_class
                cached = self._open.get(asset_class)
                if cached is not None and cached[0] == period:
                    return cached[1]
                is_open = self.broker.market_is_open(symbol)
            except (TransientError, MarketNotFound) as error:
                log.warning("%s hours of %s unknown, its old candles count as stale: %s", self.broker.name, symbol,
                            error)
                return True
            self._open[asset_class] = (period, is_open)
            return is_open

    def issues(self) -> dict[str, str]:
        """Markets whose candles cannot be used now, and why."""
        with self._lock:
            return dict(self._issues)

    def problem(self, symbols: Iterable[str]) -> Problem | None:
        """What is wrong with these markets' data now (see the module doc), with the fix; None when nothing is.

        The exchange's clock is compared with ours once per candle period whatever the candles look like:
        a clock behind the exchange's still gets candles, only older than it thinks.
        """
        wanted = list(dict.fromkeys(symbols))
        issues = {symbol: why for symbol, why in self.issues().items() if symbol in wanted}
        skew = self._clock_skew() if wanted else None
        skewed = skew is not None and abs(skew) > self.trader.clock_skew_tolerance_seconds
        if not wanted or (not skewed and len(issues) / len(wanted) <= self.trader.health_degraded_share):
            return None
        reason = ""
        if issues:
            first = next(iter(issues))
            reason = (f"no usable candles for {len(issues)} of {len(wanted)} markets "
                      f"({first}: {issues[first]}{'; and others' if len(issues) > 1 else ''})")
        if skewed:
            assert skew is not None
            side = "ahead of" if skew > 0 else "behind"
            clock = f"this machine's clock is {duration_words(skew)} {side} {self.broker.name}'s"
            return Problem(f"{reason}; {clock}" if reason else f"{clock}: candles and stops are read for the "
                           "wrong time", "set this machine's clock right (turn on time sync: `timedatectl set-ntp "
                           "true`, or the NTP setting of the host or container)")
        return Problem(reason, f"check {self.broker.name}'s status page for these markets; NIJA keeps asking and "
                       "trades them again once their candles are fresh")

    def _clock_skew(self) -> float | None:
        """Our clock minus the exchange's (its own Time), asked at most once per candle period; None if unknown."""
        period = self._period()
        with self._skew_lock:
            if self._skew is not None and self._skew[0] == period:
                return self._skew[1]
            try:
                skew: float | None = self.clock.now() - self.broker.server_time()
            except BrokerError as error:
                log.info("%s time unavailable for a clock check: %s", self.broker.name, error)
                skew = None
            self._skew = (period, skew)
        if skew is not None and abs(skew) > self.trader.clock_skew_tolerance_seconds:
            log.warning("%s: this machine's clock is %s %s the exchange's own time", self.broker.name,
                        duration_words(skew), "ahead of" if skew > 0 else "behind")
        return skew

    def _closed_only(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Drop a still-open candle should an exchange return one: signals read closed candles only."""
        if frame.empty:
            return frame
        closed = frame["time"].to_numpy() + self.candle_seconds <= self.clock.now()
        return frame if bool(closed.all()) else frame.loc[closed].reset_index(drop=True)

    @staticmethod
    def _same_last(old: pd.DataFrame, new: pd.DataFrame) -> bool:
        return len(old) == len(new) and len(new) > 0 and old["time"].iloc[-1] == new["time"].iloc[-1]

    # ---- indicators and signals ----------------------------------------------------------
    def results(self, symbols: Iterable[str]) -> dict[str, ScanResult]:
        """Last closed candle (with indicators) and entry signal per market; markets without data are left out."""
        wanted = list(dict.fromkeys(symbols))
        for symbol in wanted:
            self.candles(symbol)
        with self._compute_lock:
            with self._lock:
                entries = {sym: self._cache[sym] for sym in wanted if sym in self._cache}
            missing = {sym: entry.candles for sym, entry in entries.items() if entry.result is None}
            if missing:
                computed = scan_frames(missing, self.settings)
                with self._lock:
                    self._computations += len(computed)
                    for sym, result in computed.items():
                        entry = self._cache.get(sym)
                        if entry is not None and entry.candles is missing[sym]:
                            entry.result = result
                        entries[sym] = replace(entries[sym], result=result)
        return {sym: entry.result for sym, entry in entries.items() if entry.result is not None}

    def scan(self, symbols: Iterable[str]) -> list[EntrySignal]:
        """The entry signals among `symbols` on their last closed candle, strongest first (stale markets left out)."""
        results = self.results(symbols)
        issues = self.issues()
        signals = [r.signal for symbol, r in results.items() if r.signal is not None and symbol not in issues]
        return sorted(signals, key=lambda sig: (-sig.confidence, sig.symbol))

    def last_candles(self, symbols: Iterable[str]) -> dict[str, LastCandle]:
        """What the exit rules read for each market (the same shared computation as scan)."""
        return {sym: result.last for sym, result in self.results(symbols).items()}

    def latest_results(self) -> dict[str, ScanResult]:
        """What the last scans computed, per market (read-only, for the console's heartbeat); fetches nothing."""
        with self._lock:
            return {sym: entry.result for sym, entry in self._cache.items() if entry.result is not None}

    def stats(self) -> MarketDataStats:
        with self._lock:
            return MarketDataStats(self._fetches, self._computations, self._errors)
