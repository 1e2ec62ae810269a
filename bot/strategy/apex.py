"""APEX entries (docs/rules.md §4): a pull-back in an up-trend, read from closed candles only.

Everything here is a pure function of candle frames and a StrategySettings: no object
keeps state between calls, so every account thread of every brokerage can call the same
functions at once (the old bot shared one mutated strategy object across threads).

The rules, at candle t (each threshold a setting):
- trend: close > EMA slow, EMA mid > EMA slow, ADX >= adx_min (the ONE ADX gate; sizing
  does not look at ADX);
- trigger: RSI fast below rsi_oversold on one of `rsi_oversold_lookback` candles and rising now;
  RSI slow below rsi_slow_max; close above EMA fast. Which candles the lookback covers is the
  setting `rsi_oversold_window`: t-N+1..t ("through_signal", the default) or t-N..t-1
  ("before_signal");
- liquidity: volume >= volume_min_ratio x its average;
- confidence: the mean strength (each 0..1) of four confirmations: MACD histogram rising (0 or 1),
  bullish candle (the body's share of the candle's range), closeness to EMA mid (1 on it, 0 at
  ema_mid_proximity away), ADX strength (0 at adx_min, 1 at adx_strong); enter at
  confidence >= min_confidence. Graded, so that the threshold filters and the score ranks.
The stop sits at close - clamp(stop_atr_multiple x ATR, stop_min_fraction, stop_max_fraction of close);
the account's fee then raises its floor (bot.strategy.fees).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.candles import CANDLE_COLUMNS
from bot.config.sections.strategy import StrategySettings
from bot.strategy.indicators import INDICATOR_COLUMNS, LastCandle, causal_shift, compute_indicators, indicator_block

CONFIRMATIONS = ("macd_rising", "bullish_candle", "near_ema_mid", "strong_adx")
REQUIRED = ("trend", "trigger", "liquidity")


@dataclass(frozen=True)
class EntrySignal:
    """A buy signal on one market's last closed candle."""

    symbol: str
    time: float  # open time of the signal candle
    price: float  # its close: the reference entry price
    stop_price: float
    atr: float
    confidence: float
    reasons: tuple[str, ...]
    # Filled in for one account by bot.strategy.fees.with_fees (plan_entries); 0 straight from a scan.
    fee_rate: float = 0.0  # the taker fee the plan was made for
    first_target_price: float = 0.0
    second_target_price: float = 0.0
    breakeven_price: float = 0.0  # the sale price that pays both fees

    @property
    def risk_per_unit(self) -> float:
        return self.price - self.stop_price


@dataclass(frozen=True)
class ScanResult:
    """One market after a scan: its last closed candle (for exits) and its entry signal, if any."""

    symbol: str
    last: LastCandle
    signal: EntrySignal | None
    blocked_by: tuple[str, ...] = ()  # required rules not met: warm-up, trend, trigger, liquidity, confidence


def stop_distance(price: np.ndarray | float, atr: np.ndarray | float, s: StrategySettings) -> np.ndarray | float:
    """clamp(stop_atr_multiple x ATR, stop_min_fraction x price, stop_max_fraction x price), in price units."""
    return np.clip(s.stop_atr_multiple * atr, s.stop_min_fraction * price, s.stop_max_fraction * price)


def recent_rsi_low(rsi_fast: np.ndarray, s: StrategySettings) -> np.ndarray:
    """The lowest RSI fast over the oversold window at each candle (NaN where the window has none)."""
    first = 1 if s.rsi_oversold_window == "before_signal" else 0
    low = causal_shift(rsi_fast, first) if first else rsi_fast.copy()
    for back in range(first + 1, first + s.rsi_oversold_lookback):
        low = np.fmin(low, causal_shift(rsi_fast, back))
    return low


def confirmation_scores(arrays: Mapping[str, np.ndarray], s: StrategySettings) -> dict[str, np.ndarray]:
    """Each optional confirmation's strength, 0..1, over a (candles x markets) block."""
    close, open_, high, low = arrays["close"], arrays["open"], arrays["high"], arrays["low"]
    adx, ema_mid, hist = arrays["adx"], arrays["ema_mid"], arrays["macd_hist"]
    with np.errstate(invalid="ignore", divide="ignore"):
        candle_range = high - low
        body = np.where(candle_range > 0, np.maximum(close - open_, 0.0) / candle_range, 0.0)
        if s.ema_mid_proximity > 0:
            near = 1.0 - np.abs(close - ema_mid) / (s.ema_mid_proximity * ema_mid)
        else:
            near = (close == ema_mid).astype("float64")
        if s.adx_strong > s.adx_min:
            strength = (adx - s.adx_min) / (s.adx_strong - s.adx_min)
        else:
            strength = (adx >= s.adx_strong).astype("float64")
        return {
            "macd_rising": (hist > causal_shift(hist)).astype("float64"),
            "bullish_candle": np.clip(body, 0.0, 1.0),
            "near_ema_mid": np.clip(np.nan_to_num(near, nan=0.0), 0.0, 1.0),
            "strong_adx": np.clip(np.nan_to_num(strength, nan=0.0), 0.0, 1.0),
        }


def required_rules(arrays: Mapping[str, np.ndarray], s: StrategySettings) -> dict[str, np.ndarray]:
    """Trend, trigger and liquidity (booleans) over a block: what must hold before confidence counts."""
    close, volume = arrays["close"], arrays["volume"]
    rsi_fast, rsi_slow, adx = arrays["rsi_fast"], arrays["rsi_slow"], arrays["adx"]
    ema_fast, ema_mid, ema_slow = arrays["ema_fast"], arrays["ema_mid"], arrays["ema_slow"]
    with np.errstate(invalid="ignore"):
        return {
            "trend": (close > ema_slow) & (ema_mid > ema_slow) & (adx >= s.adx_min),
            "trigger": (recent_rsi_low(rsi_fast, s) < s.rsi_oversold)
            & (rsi_fast > causal_shift(rsi_fast))
            & (rsi_slow < s.rsi_slow_max)
            & (close > ema_fast),
            "liquidity": volume >= s.volume_min_ratio * arrays["volume_avg"],
        }


def entry_block(arrays: Mapping[str, np.ndarray], s: StrategySettings) -> dict[str, np.ndarray]:
    """The entry rules over a (candles x markets) block: rule columns, confirmation scores, confidence, entry,
    stop."""
    rules: dict[str, np.ndarray] = {**required_rules(arrays, s), **confirmation_scores(arrays, s)}
    confidence = sum(rules[name] for name in CONFIRMATIONS) / len(CONFIRMATIONS)
    entry = rules["trend"] & rules["trigger"] & rules["liquidity"] & (confidence >= s.min_confidence)
    entry &= np.isfinite(arrays["atr"])
    rules["confidence"] = confidence
    rules["entry"] = entry
    rules["stop_price"] = arrays["close"] - stop_distance(arrays["close"], arrays["atr"], s)
    return rules


ENTRY_INPUTS = ("open", "high", "low", "close", "volume", *INDICATOR_COLUMNS)


def signal_frame(frame: pd.DataFrame, s: StrategySettings) -> pd.DataFrame:
    """Add entry, confidence and stop_price columns to an indicator frame (the backtester's whole-series path)."""
    arrays = {name: frame[name].to_numpy(dtype="float64") for name in ENTRY_INPUTS}
    rules = entry_block(arrays, s)
    out = frame.copy()
    out["entry"] = rules["entry"]
    out["confidence"] = rules["confidence"]
    out["stop_price"] = rules["stop_price"]
    return out


def _reasons(row: Mapping[str, float], rules: Mapping[str, float], s: StrategySettings) -> tuple[str, ...]:
    reasons = [
        f"trend: close above EMA{s.ema_slow_period}, EMA{s.ema_mid_period} above EMA{s.ema_slow_period}, "
        f"ADX {row['adx']:.1f} >= {s.adx_min:g}",
        f"RSI{s.rsi_fast_period} {row['rsi_fast']:.1f} rising after < {s.rsi_oversold:g}; "
        f"RSI{s.rsi_slow_period} {row['rsi_slow']:.1f} < {s.rsi_slow_max:g}; close above EMA{s.ema_fast_period}",
        f"volume {row['volume']:.6g} >= {s.volume_min_ratio:g} x average {row['volume_avg']:.6g}",
    ]
    reasons.extend(f"confirmation: {name} {rules[name]:.2f}" for name in CONFIRMATIONS)
    return tuple(reasons)


def _signal_at(symbol: str, row: Mapping[str, float], rules: Mapping[str, float], s: StrategySettings) -> EntrySignal:
    return EntrySignal(
        symbol=symbol,
        time=float(row["time"]),
        price=float(row["close"]),
        stop_price=float(row["stop_price"]),
        atr=float(row["atr"]),
        confidence=float(row["confidence"]),
        reasons=_reasons(row, rules, s),
    )


def evaluate_entry(symbol: str, frame: pd.DataFrame, s: StrategySettings) -> EntrySignal | None:
    """The signal on the last closed candle of an indicator frame (from compute_indicators), or None."""
    if len(frame) < 2:
        return None
    needed = s.rsi_oversold_lookback + 2  # the window, one candle before it (RSI rising) and the signal candle
    tail = frame.iloc[-needed:] if len(frame) > needed else frame
    arrays = {name: tail[name].to_numpy(dtype="float64") for name in ENTRY_INPUTS}
    rules = entry_block(arrays, s)
    if not bool(rules["entry"][-1]):
        return None
    row = {**tail.iloc[-1].to_dict(), "confidence": rules["confidence"][-1], "stop_price": rules["stop_price"][-1]}
    return _signal_at(symbol, row, {name: float(rules[name][-1]) for name in CONFIRMATIONS}, s)


def _blocked_by(row: Mapping[str, float], s: StrategySettings) -> tuple[str, ...]:
    """Why the last candle is not an entry, rule by rule (for logs and diagnostics)."""
    if any(row[name] != row[name] for name in INDICATOR_COLUMNS):  # NaN: not enough candles yet
        return ("warm-up",)
    failed = tuple(name for name in REQUIRED if not row[name])
    return failed + (("confidence",) if row["confidence"] < s.min_confidence else ())


def scan_frames(candles: Mapping[str, pd.DataFrame], s: StrategySettings) -> dict[str, ScanResult]:
    """Indicators and the last-candle signal for many markets at once (one vectorised pass per series length).

    `candles` maps symbol -> closed candles (time, open, high, low, close, volume; ascending). Markets with
    fewer than two candles are left out.
    """
    by_length: dict[int, list[str]] = {}
    for symbol, frame in candles.items():
        if len(frame) >= 2:
            by_length.setdefault(len(frame), []).append(symbol)
    results: dict[str, ScanResult] = {}
    for symbols in by_length.values():
        block = {
            name: np.column_stack([candles[sym][name].to_numpy(dtype="float64") for sym in symbols])
            for name in CANDLE_COLUMNS
        }
        block.update(indicator_block(block["high"], block["low"], block["close"], block["volume"], s))
        rules = entry_block(block, s)
        last = {name: values[-1] for name, values in {**block, **rules}.items()}
        for col, symbol in enumerate(symbols):
            row = {name: float(values[col]) for name, values in last.items()}
            candle = LastCandle.from_row(symbol, row)
            signal = None
            if bool(last["entry"][col]):
                signal = _signal_at(symbol, row, {name: float(last[name][col]) for name in CONFIRMATIONS}, s)
            results[symbol] = ScanResult(symbol, candle, signal, () if signal else _blocked_by(row, s))
    return results


def scan_frame(symbol: str, candles: pd.DataFrame, s: StrategySettings) -> ScanResult | None:
    """One market through the same path as scan_frames."""
    return scan_frames({symbol: candles}, s).get(symbol)


__all__ = (
    "CONFIRMATIONS",
    "ENTRY_INPUTS",
    "EntrySignal",
    "ScanResult",
    "compute_indicators",
    "entry_block",
    "evaluate_entry",
    "scan_frame",
    "scan_frames",
    "signal_frame",
    "stop_distance",
)
