"""A simulator exchange backed by a state file: the same market, the clock where it left off, the state loaded.

Used by ``python -m bot.sim --state FILE`` and by paper mode to keep its results across restarts. A new
file records the market it was made with (seed, markets, anchor time, replay directory, stocks); a
reloaded file trades that market again whatever the caller passes, so prices, orders and balances
never contradict each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.clock import Clock
from bot.config.sections.simulator import SimulatorSettings
from bot.sim.catalog import spec_for
from bot.sim.clock import SimClock
from bot.sim.exchange import SimExchange
from bot.sim.persistence import MarketParams, SimStateFile
from bot.sim.prices import PriceSource, make_price_source


@dataclass
class OpenedExchange:
    exchange: SimExchange
    state: SimStateFile
    market: MarketParams  # the market actually traded (the file's, on a reload)
    resumed: bool  # the file already held an exchange


def price_source(market: MarketParams, on_file: Callable[[Path], None] | None = None) -> PriceSource:
    """The price source `market` describes (`on_file`: called after each candle file a replay reads)."""
    data_dir = Path(market.data_dir) if market.data_dir else None
    return make_price_source(
        data_dir, market.seed, market.markets, market.start_time, stocks=tuple(spec_for(s) for s in market.stocks),
        bar_seconds=market.bar_seconds, on_file=on_file,
    )


def open_exchange(
    path: Path,
    market: MarketParams,
    *,
    speed: float = 1.0,
    start: float | None = None,
    resume_clock: Literal["wall", "paused"] = "wall",
    clock: Clock | None = None,
    settings: SimulatorSettings | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> OpenedExchange:
    """Open (or create) the state file at `path` and the exchange it holds.

    The simulated clock starts at `start` when given; otherwise a new file starts at the wall clock,
    and a reloaded one continues: "wall" as if the simulator had kept running (a live-mode bot on the
    wall clock needs this), "paused" from the last change it saved (paper mode at 600x). `clock`
    replaces all that (tests' ManualClock). The caller closes `state` after the server stops.
    """
    state = SimStateFile(path)
    saved = state.market_params()
    resumed = saved is not None
    if saved is None:
        state.save_market_params(market)
    else:
        market = saved
    if clock is None:
        anchor = state.clock_anchor()
        now = time.time()
        if start is None and resume_clock == "paused":
            start = state.last_sim_time()  # where the clock stood at the last close (or change)
        if start is None:
            start = anchor.sim_time_now("wall", now) if anchor is not None else now
        state.save_clock_anchor(start, speed, wall_origin=now)
        clock = SimClock(start, speed)
    exchange = SimExchange(price_source(market, on_file), clock, seed=market.seed, settings=settings, state=state)
    return OpenedExchange(exchange, state, market, resumed)
