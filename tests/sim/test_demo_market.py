"""The synthetic market is built so APEX's real rules fire soon after any start (issue 13: the demo placed no trade
for about three minutes): every market's set-up is an entry under the default StrategySettings, whatever the
seed, the start time or the candle length, and the first one comes within a few candles of the start."""

from __future__ import annotations

import itertools
import random

import pandas as pd
import pytest

from bot.config.sections.strategy import StrategySettings
from bot.sim.catalog import STOCKS
from bot.sim.prices import SyntheticMarket
from bot.strategy.apex import scan_frames

COLUMNS = ["time", "open", "high", "low", "close", "volume"]


def closed_candles(market: SyntheticMarket, symbol: str, minutes: int, closed_at: float) -> pd.DataFrame:
    rows = market.candles(symbol, minutes, closed_at + 1, 101)[:-1]  # the last row is still open
    return pd.DataFrame(rows, columns=COLUMNS)


def starts() -> list[tuple[int, float]]:
    rng = random.Random(13)
    chosen = [(42, 1_764_000_000.0), (7, 1_750_021_800.0)]  # the default seed; the e2e tests' seed and start
    chosen += [(rng.randrange(2**32), 1_760_000_000 + rng.uniform(0, 90 * 86_400)) for _ in range(4)]
    return chosen


@pytest.mark.parametrize(("seed", "start"), starts())
@pytest.mark.parametrize("minutes", [5, 15])
def test_every_markets_set_up_is_an_apex_entry(seed: int, start: float, minutes: int) -> None:
    settings = StrategySettings(candle_minutes=minutes)
    market = SyntheticMarket(seed, 24, start, bar_seconds=minutes * 60, stocks=STOCKS)
    frames, before = {}, {}
    for symbol in market.symbols():
        if market.spec(symbol).volatility == 0:
            continue
        trigger = market.trigger_times(symbol, start + 3 * 86_400)[0]
        frames[symbol] = closed_candles(market, symbol, minutes, trigger + minutes * 60)
        before[symbol] = closed_candles(market, symbol, minutes, trigger)
    results = scan_frames(frames, settings)
    missed = {s: r.blocked_by for s, r in results.items() if r.signal is None}
    assert missed == {}, missed
    assert min(r.signal.confidence for r in results.values() if r.signal) > settings.min_confidence + 0.05
    early = {s: r.signal for s, r in scan_frames(before, settings).items() if r.signal is not None}
    assert early == {}, "a set-up fired a candle early"


def test_the_first_set_up_closes_within_a_few_candles_of_any_start() -> None:
    for seed, start in starts():
        market = SyntheticMarket(seed, 24, start)
        first = min(market.trigger_times(s, start + 86_400)[0] for s in market.symbols())
        assert 0 <= first + 300 - start <= 4 * 300  # closes within 20 simulated minutes: 2 s of real time at 600x
        gaps = sorted(market.trigger_times(s, start + 86_400)[0] for s in market.symbols())
        assert max(b - a for a, b in itertools.pairwise(gaps)) <= 6 * 300  # then one every half hour


def test_prices_stay_in_a_band_around_their_level() -> None:
    market = SyntheticMarket(42, 24, 1_764_000_000.0)
    for symbol in ("BTC-USD", "PEPE-USD"):
        ref = market.spec(symbol).ref_price
        prices = [market.price(symbol, 1_764_000_000.0 + h * 3_600) for h in range(0, 24 * 30, 7)]
        assert all(0.6 * ref < p < 1.6 * ref for p in prices), symbol
