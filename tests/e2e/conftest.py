"""Paper mode driven by a ManualClock: the test moves simulated time, the worker threads do the rest."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.brokers.factory import make_broker
from bot.clock import ManualClock
from bot.config.settings import Settings, load_settings
from bot.state.store import StateStore
from bot.trading.paper import PaperSession, paper_store_path, start_paper
from bot.trading.trader import Trader
from bot.trading.worker import AccountWorker

START = 1_750_021_800.0  # on a 5-minute candle boundary; seed 7 makes round trips in the first hours
SEED = 7

# Test pacing: one pass per 5-minute candle keeps the HTTP count (and the run time) small.
BASE_ENV = {
    # Fills follow the stepped simulated clock only: a real-time cap would fill an accepted order at a moment that
    # depends on how loaded the machine is, and the store and the exchange would be compared mid-settlement.
    "SIM_FILL_WALL_CAP_SECONDS": "3600",
    "ORDER_LOOKUP_DELAY_SECONDS": "0",
    "PAPER_CANDLE_MINUTES": "5",
    "SIM_MARKETS": "12",
    "STRATEGY_CYCLE_SECONDS": "300",
    "MONITOR_SECONDS": "300",
    "LOW_CAPITAL_MONITOR_SECONDS": "300",
    "LOW_CAPITAL_ORDER_SPACING_SECONDS": "3",
    "ORDER_SPACING_SECONDS": "1",
    "PAPER_MASTER_BALANCE": "10000",
    "PAPER_FOLLOWER_BALANCES": "2500,400",
    "MAX_USER_RISK": "0.10",
}


@dataclass
class PaperRun:
    session: PaperSession
    trader: Trader
    store: StateStore
    clock: ManualClock
    out: io.StringIO

    @property
    def settings(self) -> Settings:
        return self.session.settings

    def run_for(self, seconds: float, brokers: Sequence[str] | None = None) -> None:
        """Advance simulated time to each moment a thread waits for, until `seconds` have passed.

        With `brokers`, only those brokerages' threads are waited for: the others may be stuck in hung
        exchange calls, and time moves on regardless (what a real clock does).
        """
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            threads = self.trader.threads(brokers)  # account workers and copy dispatchers
            assert all(t.wait_idle(60.0) for t in threads), "a trader thread never became idle"
            dues = [t.waiter.due_at() if isinstance(t, AccountWorker) else t.due_at() for t in threads if t.is_alive()]
            dues = [d for d in dues if d is not None]
            if not dues:
                self.clock.set(end)
                break
            self.clock.set(min(min(dues), end))
        assert all(t.wait_idle(60.0) for t in self.trader.threads(brokers))


def start_run(tmp_path: Path, brokers: Sequence[str] = ("kraken",), **env: str) -> PaperRun:
    settings = load_settings({**BASE_ENV, "NIJA_STATE_DIR": str(tmp_path / "state"), **env}, env_file=None)
    clock = ManualClock(START)
    session = start_paper(settings, brokers, seed=SEED, clock=clock)
    store = StateStore(paper_store_path(settings), clock=clock)
    out = io.StringIO()
    trader = Trader(session.settings, session.registry, clock, store, broker_factory=make_broker, paper=True,
                    out=out, seed=SEED)
    return PaperRun(session, trader, store, clock, out)


@pytest.fixture(scope="module")
def paper_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Runs shared by a module's tests (a paper run costs seconds); closed at the module's end."""
    runs: list[PaperRun] = []
    tmp_path = tmp_path_factory.mktemp("paper")

    def factory(brokers: Sequence[str] = ("kraken",), **env: str) -> PaperRun:
        run = start_run(tmp_path / f"run{len(runs)}", brokers, **env)
        runs.append(run)
        return run

    yield factory
    for run in runs:
        run.trader.stop()
        run.trader.close_brokers()
        run.store.close()
        run.session.close()


@pytest.fixture
def live_exchange(tmp_path: Path) -> Iterator[object]:
    """The simulated Kraken served by this test process, with a funded master and two followers, for bots run
    as separate processes in live mode (scripts/benchmarks/_live_harness.py)."""
    from scripts.benchmarks._live_harness import LiveExchange

    with LiveExchange(tmp_path / "live") as exchange:
        yield exchange
