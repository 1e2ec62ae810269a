"""A paper bot with its cockpit, driven by a ManualClock: the trader's threads trade on the simulator over real
HTTP, and the test steps simulated time and the cockpit's rounds (heartbeat, equity samples, news).

`traded` runs one such bot once per test session until its master has made a whole round trip and the
followers have copied it, then stops it cleanly: a real store for the read model, the API, the pages,
/metrics, `status` and `trades` to read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config.settings import load_settings
from bot.state.operator import OperatorStore
from bot.state.store import StateStore
from bot.trading.commands import open_views
from bot.web.app import WebOptions, create_app
from bot.web.auth import Gate
from bot.web.board import Board
from bot.web.cockpit import Cockpit
from bot.web.live import TraderLive
from bot.web.metrics import Metrics
from bot.web.server import WebServer
from tests.e2e.conftest import PaperRun, start_run

STEP = 300.0  # simulated seconds per step: one candle
SEED_ENV = {"SIM_MARKETS": "24", "WEB_ENABLED": "false", "EQUITY_SAMPLE_SECONDS": "300"}


@dataclass
class CockpitRun:
    """A paper bot, its cockpit and the operator store its entry gate reads."""

    run: PaperRun
    cockpit: Cockpit
    operator: OperatorStore
    out: io.StringIO

    @property
    def path(self) -> Path:
        return self.run.store.path

    @property
    def store(self) -> StateStore:
        return self.run.store

    def step(self, seconds: float = STEP) -> None:
        """Move simulated time on (the threads trade), then one cockpit round."""
        self.run.run_for(seconds)
        self.cockpit.tick()

    def step_until(self, done: Callable[[], bool], cap_seconds: float, what: str) -> float:
        """Step until ``done()``; the simulated seconds it took. Fails the test past the cap."""
        start = self.run.clock.now()
        while not done():
            if self.run.clock.now() - start > cap_seconds:
                pytest.fail(f"{what} did not happen within {cap_seconds / 3600:g} simulated hours")
            self.step()
        return self.run.clock.now() - start

    def stop(self) -> None:
        assert self.run.trader.stop() == []
        self.cockpit.stop("stopped cleanly")
        self.run.trader.close_brokers()
        self.operator.close()
        self.run.store.close()
        self.run.session.close()


def start_cockpit(tmp_path: Path, *, seed_env: dict[str, str] | None = None, background: bool = False,
                  start_trader: bool = True, **env: str) -> CockpitRun:
    """The cockpit started, then (unless ``start_trader`` is False) the trader, as `bot.py run` does."""
    run = start_run(tmp_path, ("kraken",), **{**SEED_ENV, **(seed_env or {}), **env})
    operator = OperatorStore(run.store.path)
    run.trader.entry_gate = operator.entry_gate
    out = io.StringIO()
    cockpit = Cockpit(run.settings, run.store.path, TraderLive(run.trader, "paper"), out=out, operator=operator,
                      background=background)
    cockpit.start()
    if start_trader:
        run.trader.start()
        cockpit.trader_started()
    return CockpitRun(run, cockpit, operator, out)


@contextmanager
def viewer_server(tmp_path: Path, gate: Gate | None = None) -> Iterator[str]:
    """The read-only cockpit of an empty store served by uvicorn on 127.0.0.1 (any free port); yields its URL.

    For what needs a real server but no trading (the docs page, headers): no paper run to wait for."""
    path = tmp_path / "nija.sqlite3"
    StateStore(path).close()
    views = open_views(path)  # as `python bot.py web` opens them
    assert not isinstance(views, str), views
    read, operator = views
    board = Board(read, operator, load_settings({}, env_file=None))
    app = create_app(board, gate or Gate("127.0.0.1", None), Metrics(board), WebOptions(False, 2.0, 300.0))
    try:
        with WebServer(app, "127.0.0.1", 0) as server:
            yield server.url
    finally:
        read.close()
        operator.close()


def master_fills(store: StateStore, side: str | None = None) -> list[object]:
    return [f for f in store.fills("kraken", "master") if side is None or f.side == side]


@dataclass(frozen=True)
class Traded:
    """A finished paper run's store: started at ``started_at``; the master bought by ``bought_at`` and was flat
    again by ``closed_at`` (bot-clock seconds)."""

    path: Path
    settings: object
    started_at: float
    bought_at: float
    closed_at: float
    out: str


@pytest.fixture(scope="session")
def traded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traded]:
    cockpit = start_cockpit(tmp_path_factory.mktemp("traded"))
    start = cockpit.run.clock.now()
    try:
        cockpit.step_until(lambda: bool(master_fills(cockpit.store, "buy")), 24 * 3600, "a master entry")
        bought = cockpit.run.clock.now()
        cockpit.step_until(lambda: bool(master_fills(cockpit.store, "sell"))
                           and not cockpit.store.positions("kraken", "master"), 24 * 3600, "the master's exit")
        closed = cockpit.run.clock.now()
        cockpit.step(2 * STEP)  # the followers' exit copies and one more equity sample
    finally:
        cockpit.stop()
    yield Traded(cockpit.path, cockpit.run.settings, start, bought, closed, cockpit.out.getvalue())
