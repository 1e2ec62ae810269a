"""Price sources: deterministic from the seed, computable at any instant, candles consistent with prices."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

from bot.sim.prices import ReplayMarket, SyntheticMarket

T = 1_750_000_000.0


def test_synthetic_market_is_fully_determined_by_the_seed() -> None:
    a, b, c = SyntheticMarket(3, 12, T), SyntheticMarket(3, 12, T), SyntheticMarket(4, 12, T)
    assert a.symbols() == b.symbols() and len(a.symbols()) == 12 and "BTC-USD" in a.symbols()
    assert a.candles("ETH-USD", 5, T + 12_345, 50) == b.candles("ETH-USD", 5, T + 12_345, 50)
    assert a.candles("ETH-USD", 5, T + 12_345, 50) != c.candles("ETH-USD", 5, T + 12_345, 50)


def test_prices_start_at_realistic_levels_and_can_jump_in_time() -> None:
    market = SyntheticMarket(1, 24, T)
    assert market.price("BTC-USD", T) == pytest.approx(95_000.0, rel=1e-3)
    far = market.price("BTC-USD", T + 400 * 86_400)  # a year later, computed directly
    assert 10_000 < far < 1_000_000
    assert market.price("BTC-USD", T + 400 * 86_400) == far


def test_open_candle_is_last_and_closes_match_prices() -> None:
    market = SyntheticMarket(2, 6, T)
    now = T + 1_000
    rows = market.candles("SOL-USD", 5, now, 10)
    assert len(rows) == 10
    assert rows[-1][0] <= now < rows[-1][0] + 300  # still open
    assert rows[-1][4] == pytest.approx(market.price("SOL-USD", now))
    for (t, o, h, low, c, v), following in itertools.pairwise(rows):
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
        assert c == pytest.approx(following[1])  # the next candle opens where this one closed
        assert c == pytest.approx(market.price("SOL-USD", t + 300))


def test_replay_follows_the_files_and_copes_with_gaps(tmp_path: Path) -> None:
    rows = ["time,open,high,low,close,volume", "3600,10,12,9,11,5", "7200,11,13,10,12,6",
            "14400,20,21,19,20,7"]  # 10800 is missing
    (tmp_path / "ABC-USD_1h.csv.gz").write_bytes(gzip.compress("\n".join(rows).encode()))
    market = ReplayMarket(tmp_path)
    assert market.symbols() == ["ABC-USD"]
    hourly = market.candles("ABC-USD", 60, 14_400 + 3_599, 4)
    assert [r[0] for r in hourly] == [3600, 7200, 10800, 14400]
    assert hourly[0][1:5] == pytest.approx((10, 12, 9, 11), abs=1e-6)
    assert hourly[0][5] == pytest.approx(5)
    assert hourly[2][5] == pytest.approx(0)  # the gap has no volume
    assert 12 <= market.price("ABC-USD", 12_600) <= 20  # straight line across the gap


def test_replay_reads_the_shared_data(data_dir: Path) -> None:
    market = ReplayMarket(data_dir / "kraken", symbols=["LTC-USD"])
    first, last = market.time_range()
    rows = market.candles("LTC-USD", 60, first + 48 * 3_600, 24)
    assert len(rows) == 24 and all(r[2] >= r[3] > 0 for r in rows)
    assert last > first + 365 * 86_400
