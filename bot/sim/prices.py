"""Price sources for the simulator: a seeded synthetic market, or a replay of candle files.

Both are stateless functions of time: the price at any instant is computed, never accumulated, so
the clock may jump (paper mode at 600x, tests that advance a ManualClock by a day) and two calls for
the same instant always agree. Candles are built from the same path, so a ticker, a fill price and
the candle that contains them never contradict each other.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.sim.catalog import CATALOG, MarketSpec, spec_for

Candle = tuple[int, float, float, float, float, float]  # open_time, open, high, low, close, volume


class PriceSource(Protocol):
    def symbols(self) -> list[str]: ...

    def spec(self, symbol: str) -> MarketSpec: ...

    def price(self, symbol: str, t: float) -> float: ...

    def candles(self, symbol: str, minutes: int, end_time: float, count: int) -> list[Candle]: ...


# ---- shared: candles from a piecewise-linear path -------------------------------------------------


def candles_from_path(
    knot_times: np.ndarray,
    knot_values: np.ndarray,
    cum_volume_times: np.ndarray,
    cum_volume: np.ndarray,
    minutes: int,
    end_time: float,
    count: int,
) -> list[Candle]:
    """OHLCV candles of `minutes`, the last one still open at end_time, from a linear path through knots.

    High/low also include the knots inside each candle, so a replayed candle's extremes survive
    re-aggregation. Volume is the increase of the cumulative volume curve over the candle.
    """
    width = minutes * 60
    last_open = math.floor(end_time / width) * width
    opens = last_open - width * np.arange(count - 1, -1, -1, dtype=np.float64)
    ends = np.minimum(opens + width, end_time)
    open_prices = np.interp(opens, knot_times, knot_values)
    close_prices = np.interp(ends, knot_times, knot_values)
    volumes = np.interp(ends, cum_volume_times, cum_volume) - np.interp(opens, cum_volume_times, cum_volume)
    lo = np.searchsorted(knot_times, opens, side="right")
    hi = np.searchsorted(knot_times, ends, side="left")
    highs = np.maximum(open_prices, close_prices)
    lows = np.minimum(open_prices, close_prices)
    inside = hi > lo
    if inside.any():
        padded = np.append(knot_values, knot_values[-1])  # reduceat needs every bound < len
        bounds = np.column_stack([lo[inside], hi[inside]]).ravel()
        highs[inside] = np.maximum(highs[inside], np.maximum.reduceat(padded, bounds)[::2])
        lows[inside] = np.minimum(lows[inside], np.minimum.reduceat(padded, bounds)[::2])
    volumes = np.maximum(volumes, 0.0)
    return list(
        zip(
            opens.astype(np.int64).tolist(), open_prices.tolist(), highs.tolist(), lows.tolist(),
            close_prices.tolist(), volumes.tolist(),
        )
    )


# ---- the synthetic market -------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _key(*parts: object) -> np.uint64:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _uniform(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """A uniform [0, 1) number per integer index: splitmix64 of (key, index), vectorised, order-free."""
    x = index.astype(np.int64).view(np.uint64) * _GOLDEN + key
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


@dataclass(frozen=True)
class _Cycle:
    """The set-up every synthetic market repeats, in bars (the paper candle) around its trigger bar, in log price.

    Built so that APEX's rules (docs/rules.md §4) fire on the trigger bar with every confirmation met and a
    margin on each, whatever the seed: a steep up-leg puts EMA 21 above EMA 50 with a strong ADX and leaves
    EMA 50 far below; a gentle drift lets the RSIs cool; a sharp 3-bar pull-back takes RSI 9 under 30; a
    10-bar base, edging lower, keeps RSI 9 there while EMA 9 comes down to the price; then one bullish bar
    closes back above EMA 9 with RSI 14 still under 50, near EMA 21 and on rising volume. The price then
    recovers past the pull-back's top (targets), drifts on (trailing stop) and falls back to the cycle's
    low (stops), so a demo shows exits too and prices never run away. Markets take turns: market i's
    trigger bar is first_trigger_bar + i x spacing_bars after the start (modulo the cycle), so the first
    set-up comes within a few bars of any start and a new one every spacing_bars after it.
    """

    knots: tuple[tuple[float, float], ...] = (
        (-73.0, 0.0),  # the cycle's low
        (-29.0, 0.176),  # steep up-leg: 0.4 % a bar
        (-13.0, 0.1824),  # gentle drift: 0.04 % a bar
        (-10.0, 0.1464),  # the pull-back: 1.2 % a bar for 3 bars
        (0.0, 0.1424),  # the base, edging 0.04 % a bar lower; the trigger bar opens here
        (1.0, 0.1494),  # the trigger bar closes 0.7 % higher
        (5.0, 0.1924),  # recovery to 1 % over the pull-back's top
        (29.0, 0.2212),  # the trend resumes at 0.12 % a bar, then the fall back to the low
    )
    cycle_bars: int = 144
    first_trigger_bar: int = 3
    spacing_bars: int = 6
    knots_per_bar: int = 5
    wick: float = 0.003  # x the market's volatility: the 2nd knot of each bar is this high, the 4th this low
    jitter: float = 0.0002  # per-bar noise of the path
    drift_bars: int = 1152  # slow drift between price levels: a new random level every 1152 bars (4 days of 5 min)
    drift_amp: float = 0.03  # small next to the cycle (0.01 % a bar at most), so it never spoils a set-up


class SyntheticMarket:
    """A few dozen USD pairs that repeat APEX's set-up in turns, with volume, fully determined by the seed.

    log price(knot k) = the demo cycle (_Cycle) + a slow drift between price levels + candle wicks + a
    little per-bar noise, each random layer hashed from (seed, symbol, layer, index), so any instant is
    computed directly. Time is counted in bars from the start's bar, so every start sees the same market
    relative to it: the demo trades within seconds of any start, not only of a lucky one. Prices are
    anchored so each market trades at its catalogue level at start_time.
    """

    def __init__(
        self, seed: int, n_markets: int, start_time: float, bar_seconds: int = 300,
        stocks: Sequence[MarketSpec] = (),
    ) -> None:
        """`bar_seconds`: the candle length the set-ups are drawn for (paper mode's PAPER_CANDLE_MINUTES).
        `stocks`: extra markets (catalog.STOCKS) on top of the n_markets crypto pairs, for the Alpaca face."""
        if n_markets < 1:
            raise ValueError("n_markets must be at least 1")
        if bar_seconds < 5:
            raise ValueError("bar_seconds must be at least 5")
        self.seed = seed
        self.start_time = float(start_time)
        self.bar_seconds = int(bar_seconds)
        self._cycle = _Cycle()
        self.step = max(1, self.bar_seconds // self._cycle.knots_per_bar)  # seconds between path knots
        specs = [spec for spec in CATALOG if spec.volatility > 0][:n_markets]
        if n_markets > len(specs):
            specs += [spec for spec in CATALOG if spec.volatility == 0]
        self._specs = {spec.symbol: spec for spec in (*specs, *stocks)}
        self._knot_cache: dict[tuple[str, int], float] = {}
        self._keys = {symbol: {layer: _key(seed, symbol, layer) for layer in ("long", "jit", "vol")}
                      for symbol in self._specs}
        cycle = self._cycle
        self._origin_bar = math.floor(self.start_time / self.bar_seconds)
        self._trigger_bar = {
            symbol: (cycle.first_trigger_bar + i * cycle.spacing_bars) % cycle.cycle_bars
            for i, symbol in enumerate(self._specs)
        }
        xs = [x for x, _ in cycle.knots]
        self._cycle_x = np.array([*xs, xs[0] + cycle.cycle_bars], dtype=np.float64)
        self._cycle_y = np.array([*(y for _, y in cycle.knots), cycle.knots[0][1]], dtype=np.float64)
        # The anchor makes price(start_time), interpolated between its two knots as price() does, the catalogue level.
        position = self.start_time / self.step
        around = np.array([math.floor(position), math.floor(position) + 1], dtype=np.int64)
        weight = position - math.floor(position)
        self._anchor = {}
        for symbol in self._specs:
            low, high = np.exp(self._log_path(symbol, around))
            self._anchor[symbol] = math.log(low * (1.0 - weight) + high * weight)

    def symbols(self) -> list[str]:
        return list(self._specs)

    def spec(self, symbol: str) -> MarketSpec:
        return self._specs[symbol]

    def trigger_times(self, symbol: str, until: float) -> list[float]:
        """When `symbol`'s set-up candles open, from the start to `until` (tests and the demo's own checks)."""
        cycle = self._cycle
        first = self._origin_bar + self._trigger_bar[symbol]
        last = math.floor(until / self.bar_seconds)
        return [float(b * self.bar_seconds) for b in range(first, last + 1, cycle.cycle_bars)]

    # the path, in knot indices (k = time // step)
    def _octave(self, key: np.uint64, k: np.ndarray, spacing: int, amp: float, smooth: bool) -> np.ndarray:
        j = np.floor_divide(k, spacing)
        f = (k - j * spacing) / spacing
        v0 = _uniform(key, j) * 2.0 - 1.0
        v1 = _uniform(key, j + 1) * 2.0 - 1.0
        if smooth:
            f = (1.0 - np.cos(np.pi * f)) * 0.5
        return (v0 + (v1 - v0) * f) * amp

    def _log_path(self, symbol: str, k: np.ndarray) -> np.ndarray:
        spec, keys, cycle = self._specs[symbol], self._keys[symbol], self._cycle
        if spec.volatility == 0:
            return np.full(k.shape, math.log(spec.ref_price))
        knots_per_bar = self.bar_seconds / self.step
        bars = k / knots_per_bar  # absolute bar position of each knot
        first = self._cycle_x[0]
        position = np.mod(bars - self._origin_bar - self._trigger_bar[symbol] - first, cycle.cycle_bars) + first
        demo = np.interp(position, self._cycle_x, self._cycle_y)
        whole = np.floor(bars).astype(np.int64)
        noise_now = _uniform(keys["jit"], whole) * 2.0 - 1.0
        noise_next = _uniform(keys["jit"], whole + 1) * 2.0 - 1.0
        noise = (noise_now + (noise_next - noise_now) * (bars - whole)) * cycle.jitter
        in_bar = np.mod(k, round(knots_per_bar)) if knots_per_bar >= 4 else np.full(k.shape, -1)
        wick = np.where(in_bar == 1, 1.0, np.where(in_bar == 3, -1.0, 0.0)) * cycle.wick * spec.volatility
        wick[(position >= 0.0) & (position < 1.0)] = 0.0  # the trigger bar is all body: a clean bullish candle
        drift = self._octave(keys["long"], k, round(cycle.drift_bars * knots_per_bar), cycle.drift_amp, True)
        return demo + noise + wick + drift

    def _prices(self, symbol: str, k: np.ndarray) -> np.ndarray:
        spec = self._specs[symbol]
        log_path = self._log_path(symbol, k)
        if spec.volatility == 0:
            return np.exp(log_path)
        return spec.ref_price * np.exp(log_path - self._anchor[symbol])

    def price(self, symbol: str, t: float) -> float:
        if symbol not in self._specs:
            raise KeyError(symbol)
        position = t / self.step
        k0 = math.floor(position)
        v0, v1 = self._knot_price(symbol, k0), self._knot_price(symbol, k0 + 1)
        return v0 + (v1 - v0) * (position - k0)

    def _knot_price(self, symbol: str, k: int) -> float:
        """One knot, memoised: tickers and fills ask for the same few knots over and over."""
        cached = self._knot_cache.get((symbol, k))
        if cached is None:
            if len(self._knot_cache) > 200_000:
                self._knot_cache.clear()
            cached = float(self._prices(symbol, np.array([k], dtype=np.int64))[0])
            self._knot_cache[(symbol, k)] = cached
        return cached

    def candles(self, symbol: str, minutes: int, end_time: float, count: int) -> list[Candle]:
        if symbol not in self._specs:
            raise KeyError(symbol)
        if count <= 0:
            return []
        width = minutes * 60
        first_open = (math.floor(end_time / width) - count + 1) * width
        stride = max(1, (width // self.step) // 60)  # long candles: ~60 knots each is plenty for high/low
        k_first = math.floor(first_open / self.step) - stride
        k_last = math.ceil(end_time / self.step) + 1
        k = np.arange(k_first, k_last + 1, stride, dtype=np.int64)
        if k[-1] < k_last:
            k = np.append(k, k_last)
        exact = np.array(sorted({math.floor(end_time / self.step), math.ceil(end_time / self.step)}), dtype=np.int64)
        k = np.union1d(k, exact)
        values = self._prices(symbol, k)
        times = k.astype(np.float64) * self.step
        cum_times, cum = self._cumulative_volume(symbol, k, values, times)
        return candles_from_path(times, values, cum_times, cum, minutes, end_time, count)

    def _cumulative_volume(
        self, symbol: str, k: np.ndarray, values: np.ndarray, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Volume flows faster when the price moves (pull-backs trade heavily), in base units."""
        spec = self._specs[symbol]
        moves = np.abs(np.diff(np.log(values), prepend=math.log(values[0])))
        spans = np.diff(times, prepend=times[0])
        activity = 0.5 + _uniform(self._keys[symbol]["vol"], k) + np.minimum(moves * 150.0, 3.0)
        rate = spec.quote_volume_per_minute / 60.0 / values  # base units per second on average
        return times, np.cumsum(rate * activity * spans)


# ---- replay of candle files -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    symbol: str
    path: Path
    seconds: int  # the file's candle length
    times: np.ndarray  # open times (shifted), ascending
    rows: np.ndarray  # open, high, low, close, volume per row

    @property
    def first(self) -> float:
        return float(self.times[0])

    @property
    def last(self) -> float:
        return float(self.times[-1]) + self.seconds


def _read_csv(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    data = np.loadtxt(io.BytesIO(raw), delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if data.shape[1] < 6:
        raise ValueError(f"{path}: expected columns time,open,high,low,close,volume")
    order = np.argsort(data[:, 0], kind="stable")
    return data[order][:, :6]


def candle_files(data_dir: Path) -> list[Path]:
    """The candle files a replay of `data_dir` reads (every *.csv and *.csv.gz below it)."""
    return sorted(p for p in Path(data_dir).rglob("*") if p.name.endswith((".csv", ".csv.gz")))


def _symbol_of(path: Path) -> str:
    return path.name.split("_", 1)[0].split(".", 1)[0].upper()


class ReplayMarket:
    """Replays `time,open,high,low,close,volume` CSV(.gz) files (file name `BASE-QUOTE_<tf>...`).

    One file per symbol is used: the finest timeframe, then the most rows. Inside a candle the price
    walks open -> low -> high -> close (or open -> high -> low -> close for a red candle); across a
    missing candle it moves in a straight line from the last close to the next open, with no volume.
    With `align_to`, every symbol's history is shifted (by whole days) so it starts there, letting
    files of different eras trade side by side on one clock.
    """

    def __init__(
        self, data_dir: Path, symbols: Iterable[str] | None = None, align_to: float | None = None,
        on_file: Callable[[Path], None] | None = None,
    ) -> None:
        """`on_file` is called after each file is read (a progress bar: a large folder takes seconds)."""
        data_dir = Path(data_dir)
        files = candle_files(data_dir)
        if not files:
            raise ValueError(f"{data_dir}: no candle files (*.csv or *.csv.gz) found")
        wanted = {s.upper() for s in symbols} if symbols is not None else None
        chosen: dict[str, tuple[int, int, Path, np.ndarray]] = {}
        for path in files:
            symbol = _symbol_of(path)
            if "-" not in symbol or (wanted is not None and symbol not in wanted):
                continue
            data = _read_csv(path)
            if on_file is not None:
                on_file(path)
            if len(data) < 2:
                continue
            steps, counts = np.unique(np.diff(data[:, 0]), return_counts=True)
            positive = steps > 0
            seconds = int(steps[positive][np.argmax(counts[positive])])  # the usual step (gaps are longer)
            rank = (seconds, -len(data))
            current = chosen.get(symbol)
            if current is None or rank < (current[0], current[1]):
                chosen[symbol] = (seconds, -len(data), path, data)
        if wanted is not None and (missing := wanted - set(chosen)):
            raise ValueError(f"{data_dir}: no candle file for {', '.join(sorted(missing))}")
        if not chosen:
            raise ValueError(f"{data_dir}: no usable candle files named like BTC-USD_1h.csv.gz")
        self._series: dict[str, _Series] = {}
        for symbol, (seconds, _rows, path, data) in sorted(chosen.items()):
            shift = 0.0 if align_to is None else math.floor((align_to - data[0, 0]) / 86_400) * 86_400
            self._series[symbol] = _Series(symbol, path, seconds, data[:, 0] + shift, data[:, 1:6])
        self._paths = {symbol: self._build_path(series) for symbol, series in self._series.items()}

    @staticmethod
    def _build_path(series: _Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        t, d = series.times, float(series.seconds)
        o, h, low, c, v = (series.rows[:, i] for i in range(5))
        red = c < o
        first = np.where(red, h, low)
        second = np.where(red, low, h)
        knot_times = np.column_stack([t, t + d / 3.0, t + 2.0 * d / 3.0, t + d * 0.999]).ravel()
        knot_values = np.column_stack([o, first, second, c]).ravel()
        cum_after = np.cumsum(v)
        cum_before = cum_after - v
        cum_times = np.column_stack([t, t + d]).ravel()
        cum = np.column_stack([cum_before, cum_after]).ravel()
        return knot_times, knot_values, cum_times, cum

    def symbols(self) -> list[str]:
        return list(self._series)

    def spec(self, symbol: str) -> MarketSpec:
        series = self._series[symbol]
        return spec_for(symbol, float(series.rows[-1, 3]))

    def time_range(self) -> tuple[float, float]:
        """(first, last) instant every symbol has data for, or the union when they never overlap."""
        firsts = [s.first for s in self._series.values()]
        lasts = [s.last for s in self._series.values()]
        if max(firsts) < min(lasts):
            return max(firsts), min(lasts)
        return min(firsts), max(lasts)

    def price(self, symbol: str, t: float) -> float:
        knot_times, knot_values, _, _ = self._paths[symbol]
        return float(np.interp(t, knot_times, knot_values))

    def candles(self, symbol: str, minutes: int, end_time: float, count: int) -> list[Candle]:
        if count <= 0:
            return []
        return candles_from_path(*self._paths[symbol], minutes, end_time, count)


def make_price_source(
    data_dir: Path | None, seed: int, n_markets: int, start_time: float, symbols: Sequence[str] | None = None,
    stocks: Sequence[MarketSpec] = (), bar_seconds: int = 300, on_file: Callable[[Path], None] | None = None,
) -> SyntheticMarket | ReplayMarket:
    """Replay when a data directory is given, else the seeded synthetic market (paper mode's choice), with
    `stocks` added to it (a replay trades only what its files hold) and its set-ups drawn for `bar_seconds`
    candles."""
    if data_dir is not None:
        return ReplayMarket(data_dir, symbols, align_to=start_time, on_file=on_file)
    return SyntheticMarket(seed, n_markets, start_time, bar_seconds=bar_seconds, stocks=stocks)
