"""Proof of life on the console: every HEARTBEAT_SECONDS of real time, one line per brokerage.

Each line says what that brokerage's last scan saw (markets, signals, or the closest candidate and what it lacks),
what its accounts hold and traded this run, and when the next candle closes, so a screen with no trade on it
still shows a bot at work. It only reads the trader's state (scan results, the store) and changes nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING, TextIO

from bot.clock import describe_seconds
from bot.strategy.closest import closest_candidate

if TYPE_CHECKING:
    from bot.trading.trader import Brokerage, Trader

log = logging.getLogger(__name__)


def _clock_time(seconds: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(seconds))


def brokerage_line(trader: Trader, brokerage: Brokerage) -> str:
    """One brokerage's status line (plain text)."""
    settings, clock, store = trader.settings, trader.clock, trader.store
    labels = [slot.account.account_id for slot in brokerage.slots]
    positions = sum(len(store.positions(brokerage.name, account_id)) for account_id in labels)
    fills = sum(1 for f in store.fills(brokerage.name) if f.time >= trader.started_at)
    holdings = f"{positions} open position{'s' if positions != 1 else ''}, {fills} fill{'s' if fills != 1 else ''}"
    if brokerage.market_data is None:
        return f"[{brokerage.name}] no account here runs APEX now (see the table above); {holdings} this run"
    results = brokerage.market_data.latest_results()
    markets = len(brokerage.universe.symbols) if brokerage.universe is not None else len(results)
    candle_seconds = settings.strategy.candle_minutes * 60
    now = clock.now()
    next_close = (math.floor(now / candle_seconds) + 1) * candle_seconds
    upcoming = f"next candle closes in {describe_seconds(round(next_close - now), clock)}"
    if not results:
        return f"[{brokerage.name}] {markets} markets, first scan under way; {holdings}; {upcoming}"
    last = max(r.last.time for r in results.values())
    signals = sorted((r.signal for r in results.values() if r.signal is not None), key=lambda sig: -sig.confidence)
    if signals:
        found = ", ".join(f"{sig.symbol} {sig.confidence:.2f}" for sig in signals[:3])
        seen = f"{len(signals)} signal{'s' if len(signals) != 1 else ''} ({found})"
    else:
        candidate = closest_candidate(results, settings.strategy)
        seen = "no signal"
        if candidate is not None and candidate.lacks:
            seen += f"; closest {candidate.symbol} lacks {'; '.join(candidate.lacks)}"
    return (f"[{brokerage.name}] scanned {len(results)} of {markets} markets on the {_clock_time(last)} candle: {seen} "
            f"| {holdings} | {upcoming}")


def status_lines(trader: Trader) -> list[str]:
    return [brokerage_line(trader, brokerage) for brokerage in trader.brokerages.values()]


class Heartbeat(threading.Thread):
    """Prints status_lines every `interval` real seconds until stop() (a daemon: it never holds the exit)."""

    def __init__(self, trader: Trader, interval: float, out: TextIO) -> None:
        super().__init__(name="console-heartbeat", daemon=True)
        self.trader = trader
        self.interval = interval
        self.out = out
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """One round of status lines (what the thread prints every interval)."""
        try:
            lines = status_lines(self.trader)
        except Exception:  # a console line must never take the bot down; the traceback goes to the log
            log.exception("console status line failed")
            return
        for line in lines:
            print(line, file=self.out, flush=True)

    def stop(self) -> None:
        self._stopping.set()
