"""APEX indicators, vectorised over time and over many markets at once.

The formulas are those of `ta` 0.11 (Wilder RSI, EMA with ``adjust=False``, MACD histogram,
Wilder ATR and ADX, simple volume average) and the tests compare every column with `ta`'s
own output. EMA, RSI and MACD are computed with `ta`'s pandas ``ewm`` formulas; ATR and ADX
are re-written here because `ta` runs them as Python loops over every candle (about 10 ms
per market, far too slow for a 730-market scan): Wilder smoothing is an exponential
average with alpha = 1/period seeded by a simple mean, which pandas' compiled ``ewm`` runs
over a whole (candles x markets) block at once.

Every value at candle t depends only on candles 0..t (no look-ahead); values inside the
warm-up are NaN, so a rule that reads them is simply false.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.candles import CANDLE_COLUMNS
from bot.config.sections.strategy import StrategySettings

INDICATOR_COLUMNS = (
    "rsi_fast",
    "rsi_slow",
    "ema_fast",
    "ema_mid",
    "ema_slow",
    "macd_hist",
    "atr",
    "adx",
    "volume_avg",
)


#: blocks with at least this many markets run the recursion row by row in numpy (fast for many short
#: series); narrower ones (the backtester's long single series) use pandas' compiled loop per column
_ROWWISE_MIN_COLUMNS = 8


def _ewm(values: np.ndarray, *, alpha: float, min_periods: int = 0) -> np.ndarray:
    """``ewm(alpha, adjust=False).mean()`` down axis 0 of a 2-D block; leading NaNs are skipped per column.

    The row-wise form repeats pandas' own arithmetic step for step, so both give the same bits
    (tests compare them exactly); inputs have NaNs only before their first value.
    """
    if values.ndim != 2 or values.shape[1] < _ROWWISE_MIN_COLUMNS:
        frame = pd.DataFrame(values, copy=False)
        return frame.ewm(alpha=alpha, adjust=False, min_periods=min_periods).mean().to_numpy()
    keep = 1.0 - alpha
    total = keep + alpha
    out = np.empty(values.shape, dtype="float64")
    weighted = values[0].astype("float64", copy=True)
    seen = np.isfinite(weighted).astype("int64")
    out[0] = weighted
    for row in range(1, values.shape[0]):
        current = values[row]
        observed = current == current
        seen += observed
        mixed = (keep * weighted + alpha * current) / total
        update = np.where(weighted != current, mixed, weighted)
        weighted = np.where(weighted == weighted, np.where(observed, update, weighted), current)
        out[row] = weighted
    if min_periods > 1:
        counts = np.cumsum(np.isfinite(values), axis=0)
        out[counts < min_periods] = np.nan
    return out


def causal_shift(values: np.ndarray, periods: int = 1) -> np.ndarray:
    """values[t - periods] at row t (NaN where there is none): the causal shift."""
    out = np.full_like(values, np.nan, dtype="float64")
    if periods < values.shape[0]:
        out[periods:] = values[:-periods]
    return out


def _seeded_wilder(values: np.ndarray, period: int, first: int) -> np.ndarray:
    """Wilder smoothing: the mean of rows first-period+1..first at row `first`, then y = y + (x - y)/period.

    Rows before `first` are NaN. This is what `ta` loops over in ATR and ADX, in compiled form.
    """
    rows = values.shape[0]
    seeded = np.full_like(values, np.nan, dtype="float64")
    if rows <= first:
        return seeded
    total = values[first - period + 1].astype("float64", copy=True)
    for row in range(first - period + 2, first + 1):  # in order: the same bits for one market or many
        total += values[row]
    seeded[first] = total / period
    seeded[first + 1 :] = values[first + 1 :]
    return _ewm(seeded, alpha=1.0 / period)


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder RSI exactly as ta.momentum.RSIIndicator (100 where the average loss is 0)."""
    diff = np.diff(close, axis=0, prepend=close[:1])
    up = np.where(diff > 0, diff, 0.0)
    down = np.where(diff < 0, -diff, 0.0)
    avg_up = _ewm(up, alpha=1.0 / period, min_periods=period)
    avg_down = _ewm(down, alpha=1.0 / period, min_periods=period)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + avg_up / avg_down)
    return np.where(avg_down == 0, 100.0, value)


def ema(close: np.ndarray, period: int) -> np.ndarray:
    """EMA as ta.trend.EMAIndicator: span `period`, adjust=False, NaN for the first period-1 rows."""
    return _ewm(close, alpha=2.0 / (period + 1.0), min_periods=period)


def macd_histogram(close: np.ndarray, fast: int, slow: int, signal: int) -> np.ndarray:
    """ta.trend.MACD(...).macd_diff(): MACD line minus its signal EMA."""
    line = ema(close, fast) - ema(close, slow)
    return line - _ewm(line, alpha=2.0 / (signal + 1.0), min_periods=signal)


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high-low, |high-prev close|, |low-prev close|); the first row has no previous close: high-low."""
    prev_close = causal_shift(close)
    with np.errstate(invalid="ignore"):
        ranges = np.fmax(high - low, np.fmax(np.abs(high - prev_close), np.abs(low - prev_close)))
    return ranges


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder ATR as ta.volatility.AverageTrueRange (seeded with the mean of the first `period` ranges)."""
    return _seeded_wilder(true_range(high, low, close), period, period - 1)


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder ADX, equal to ta.trend.ADXIndicator(...).adx() from row 2*period-1 on (NaN before)."""
    rows = high.shape[0]
    up_move = high - causal_shift(high)
    down_move = causal_shift(low) - low
    with np.errstate(invalid="ignore"):
        plus_dm = np.where((up_move > down_move) & (up_move > 0), up_move, 0.0)
        minus_dm = np.where((down_move > up_move) & (down_move > 0), down_move, 0.0)
    ranges = true_range(high, low, close)
    ranges[0] = np.nan  # DM and TR exist from the second candle on
    if rows <= period:
        return np.full_like(high, np.nan, dtype="float64")
    smooth_tr = _seeded_wilder(ranges, period, period)
    smooth_plus = _seeded_wilder(plus_dm, period, period)
    smooth_minus = _seeded_wilder(minus_dm, period, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = np.where(smooth_tr != 0, 100.0 * smooth_plus / smooth_tr, 0.0)
        minus_di = np.where(smooth_tr != 0, 100.0 * smooth_minus / smooth_tr, 0.0)
        di_sum = plus_di + minus_di
        dx = np.where(di_sum != 0, 100.0 * np.abs(plus_di - minus_di) / di_sum, 0.0)
    dx[:period] = np.nan
    return _seeded_wilder(dx, period, 2 * period - 1)


def volume_average(volume: np.ndarray, period: int) -> np.ndarray:
    """Simple mean of the last `period` volumes, the current candle included."""
    return pd.DataFrame(volume, copy=False).rolling(period, min_periods=period).mean().to_numpy()


def indicator_block(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, s: StrategySettings
) -> dict[str, np.ndarray]:
    """Every APEX indicator for a (candles x markets) block of equal-length series."""
    return {
        "rsi_fast": rsi(close, s.rsi_fast_period),
        "rsi_slow": rsi(close, s.rsi_slow_period),
        "ema_fast": ema(close, s.ema_fast_period),
        "ema_mid": ema(close, s.ema_mid_period),
        "ema_slow": ema(close, s.ema_slow_period),
        "macd_hist": macd_histogram(close, s.macd_fast_period, s.macd_slow_period, s.macd_signal_period),
        "atr": atr(high, low, close, s.atr_period),
        "adx": adx(high, low, close, s.adx_period),
        "volume_avg": volume_average(volume, s.volume_avg_period),
    }


def _column(candles: pd.DataFrame, name: str) -> np.ndarray:
    return candles[name].to_numpy(dtype="float64").reshape(-1, 1)


def compute_indicators(candles: pd.DataFrame, s: StrategySettings) -> pd.DataFrame:
    """A copy of `candles` (time, open, high, low, close, volume; ascending) with the indicator columns added."""
    block = indicator_block(
        _column(candles, "high"), _column(candles, "low"), _column(candles, "close"), _column(candles, "volume"), s
    )
    out = candles.reset_index(drop=True).copy()
    for name in INDICATOR_COLUMNS:
        out[name] = block[name][:, 0]
    return out


@dataclass(frozen=True)
class LastCandle:
    """The last closed candle of one market with its indicator values: what the exit rules read."""

    symbol: str
    time: float  # open time of the candle, unix seconds
    open: float
    high: float
    low: float
    close: float
    volume: float
    rsi_fast: float
    rsi_slow: float
    ema_fast: float
    ema_mid: float
    ema_slow: float
    macd_hist: float
    atr: float
    adx: float
    volume_avg: float

    @classmethod
    def from_row(cls, symbol: str, row: Mapping[str, float]) -> LastCandle:
        return cls(
            symbol=symbol,
            **{name: float(row[name]) for name in CANDLE_COLUMNS},
            **{name: float(row[name]) for name in INDICATOR_COLUMNS},
        )


def last_candle(symbol: str, frame: pd.DataFrame) -> LastCandle:
    """The last row of an indicator frame (from compute_indicators) as plain data."""
    return LastCandle.from_row(symbol, frame.iloc[-1].to_dict())
