"""What the running bot knows beyond its store: which threads should run, whether they are alive, the
bot's clock and the last prices (issue 12).

The web layer reads the trader only through ``LiveBot``; ``TraderLive`` is the one adapter that knows
the trader's insides, so a change to the trader is a change here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.accounts.states import THREAD_STATES

if TYPE_CHECKING:
    from bot.trading.trader import Trader

COPY_THREAD = "copies"  # the account column of a brokerage's copy thread in thread snapshots and /metrics


@dataclass(frozen=True)
class ThreadSnapshot:
    """One account's thread as the supervisor sees it now."""

    label: str
    broker: str
    account_id: str
    state: str
    should_run: bool  # its state gets a thread (docs/rules.md §3)
    started: bool
    alive: bool
    waiting: bool  # idle until its next pass (False while a pass runs)
    cycles: int
    last_cycle_at: float | None


class LiveBot(Protocol):
    """The running bot, as the cockpit may see it."""

    mode: str  # paper | live

    def now(self) -> float:
        """The bot clock (simulated time in paper mode)."""
        ...

    def threads(self) -> list[ThreadSnapshot]: ...

    def started(self) -> bool:
        """True once start-up (connect, classify, reconcile) is over and the threads run."""
        ...

    def prices(self, broker: str, symbols: Sequence[str]) -> dict[str, float]:
        """The last closed candle's close per symbol, from the bot's shared market data (no new exchange call
        beyond the once-per-candle fetch the strategy makes anyway)."""
        ...


class TraderLive:
    """``LiveBot`` over the trader of this process."""

    def __init__(self, trader: Trader, mode: str) -> None:
        self.trader = trader
        self.mode = mode
        self._started = threading.Event()

    def mark_started(self) -> None:
        self._started.set()

    def started(self) -> bool:
        return self._started.is_set()

    def now(self) -> float:
        return self.trader.clock.now()

    def threads(self) -> list[ThreadSnapshot]:
        found = []
        for slot in list(self.trader.slots):
            worker = slot.worker
            health = worker.health.snapshot() if worker is not None else None
            found.append(ThreadSnapshot(
                label=slot.label, broker=slot.account.broker, account_id=slot.account.account_id,
                state=str(slot.status.state), should_run=slot.status.state in THREAD_STATES,
                started=worker is not None, alive=worker is not None and worker.is_alive(),
                waiting=worker is not None and worker.waiter.due_at() is not None,
                cycles=health.cycles if health is not None else 0,
                last_cycle_at=health.last_cycle_at if health is not None else None,
            ))
        for brokerage in list(self.trader.brokerages.values()):
            copier = brokerage.copy_thread  # the copy outbox's thread: its death would stop every copy
            if copier is not None:
                found.append(ThreadSnapshot(
                    label=copier.name, broker=brokerage.name, account_id=COPY_THREAD, state="COPYING",
                    should_run=True, started=copier.ident is not None, alive=copier.is_alive(),
                    waiting=copier.due_at() is not None, cycles=copier.rounds, last_cycle_at=None,
                ))
        return found

    def prices(self, broker: str, symbols: Sequence[str]) -> dict[str, float]:
        brokerage = self.trader.brokerages.get(broker)
        market_data = brokerage.market_data if brokerage is not None else None
        if market_data is None or not symbols:
            return {}
        return {symbol: candle.close for symbol, candle in market_data.last_candles(symbols).items()}


@dataclass(frozen=True)
class ThreadVerdict:
    label: str
    ok: bool
    problem: str  # empty when ok


class StuckWatch:
    """Tells a thread stuck inside one pass from one waiting for its next, in real seconds.

    A waiting thread is fine whatever its pace; a working thread is stuck once its cycle count has not
    moved for ``stuck_seconds`` of real time. Real time, not the bot clock: paper mode's clock runs
    hundreds of times faster, and what matters to a health check is the process, not the market.
    """

    def __init__(self, stuck_seconds: float, monotonic: Callable[[], float] | None = None) -> None:
        self.stuck_seconds = stuck_seconds
        self._monotonic = monotonic or time.monotonic
        self._lock = threading.Lock()
        self._working_since: dict[str, tuple[int, float]] = {}  # label -> (cycles, real time first seen working)

    def verdicts(self, threads: Sequence[ThreadSnapshot]) -> list[ThreadVerdict]:
        now = self._monotonic()
        verdicts = []
        with self._lock:
            for thread in threads:
                if not thread.should_run:
                    self._working_since.pop(thread.label, None)
                    continue
                verdicts.append(self._judge(thread, now))
        return verdicts

    def _judge(self, thread: ThreadSnapshot, now: float) -> ThreadVerdict:
        if not thread.started:
            return ThreadVerdict(thread.label, False,
                                 f"{thread.label} is {thread.state} but its thread has not started")
        if not thread.alive:
            return ThreadVerdict(thread.label, False, f"{thread.label} is {thread.state} but its thread has ended")
        if thread.waiting:
            self._working_since.pop(thread.label, None)
            return ThreadVerdict(thread.label, True, "")
        seen = self._working_since.get(thread.label)
        if seen is None or seen[0] != thread.cycles:
            self._working_since[thread.label] = (thread.cycles, now)
            return ThreadVerdict(thread.label, True, "")
        busy = now - seen[1]
        if busy > self.stuck_seconds:
            return ThreadVerdict(thread.label, False, f"{thread.label} has been inside one pass for {busy:.0f} s "
                                                      f"(limit {self.stuck_seconds:g} s)")
        return ThreadVerdict(thread.label, True, "")
