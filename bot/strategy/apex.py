"""APEX entries (docs/rules.md §4): a pull-back in an up-trend, read from closed candles only.

Everything here is a pure function of candle frames and a StrategySettings: no object
keeps state between calls, so every account thread of every brokerage can call the same
functions at once (the old bot shared one mutated strategy object across threads).

The rules, at candle t (each threshold a setting):
- trend: close > EMA slow, EMA mid > EMA slow, ADX >= adx_min (the ONE ADX gate; sizing
  does not look at ADX);
- trigger: RSI fast below rsi_oversold on one of the last `rsi_oversold_lookback` candles
  (t included) and rising now; RSI slow below rsi_slow_max; close above EMA fast;
- liquidity: volume >= volume_min_ratio x its average;
- confidence: the share of optional confirmations met (MACD histogram rising, bullish
  candle, close within ema_mid_proximity of EMA mid, ADX >= adx_strong); enter at
  confidence >= min_confidence.
The stop sits at close - clamp(stop_atr_multiple x ATR, stop_min_fraction, stop_max_fraction of close).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

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


def entry_block(
    arrays: Mapping[str, np.ndarray], s: StrategySettings
) -> dict[str, np.ndarray]:
    """The entry rules over a (candles x markets) block: boolean rule columns, confidence, entry, stop."""
    close, open_, volume = arrays["close"], arrays["open"], arrays["volume"]
    rsi_fast, rsi_slow, adx = arrays["rsi_fast"], arrays["rsi_slow"], arrays["adx"]
    ema_fast, ema_mid, ema_slow = arrays["ema_fast"], arrays["ema_mid"], arrays["ema_slow"]
    hist = arrays["macd_hist"]
    with np.errstate(invalid="ignore"):
        recent_low = rsi_fast.copy()
        for back in range(1, s.rsi_oversold_lookback):
            recent_low = np.fmin(recent_low, causal_shift(rsi_fast, back))
        rules = {
            "trend": (close > ema_slow) & (ema_mid > ema_slow) & (adx >= s.adx_min),
            "trigger": (recent_low < s.rsi_oversold)
            & (rsi_fast > causal_shift(rsi_fast))
            & (rsi_slow < s.rsi_slow_max)
            & (close > ema_fast),
            "liquidity": volume >= s.volume_min_ratio * arrays["volume_avg"],
            "macd_rising": hist > causal_shift(hist),
            "bullish_candle": close > open_,
            "near_ema_mid": np.abs(close - ema_mid) <= s.ema_mid_proximity * ema_mid,
            "strong_adx": adx >= s.adx_strong,
        }
    confidence = sum(rules[name].astype("float64") for name in CONFIRMATIONS) / len(CONFIRMATIONS)
    entry = rules["trend"] & rules["trigger"] & rules["liquidity"] & (confidence >= s.min_confidence)
    entry &= np.isfinite(arrays["atr"])
    rules["confidence"] = confidence
    rules["entry"] = entry
    rules["stop_price"] = close - stop_distance(close, arrays["atr"], s)
    return rules


def signal_frame(frame: pd.DataFrame, s: StrategySettings) -> pd.DataFrame:
    """Add entry, confidence and stop_price columns to an indicator frame (the backtester's whole-series path)."""
    arrays = {name: frame[name].to_numpy(dtype="float64") for name in ("open", "close", "volume", *INDICATOR_COLUMNS)}
    rules = entry_block(arrays, s)
    out = frame.copy()
    out["entry"] = rules["entry"]
    out["confidence"] = rules["confidence"]
    out["stop_price"] = rules["stop_price"]
    return out


def _reasons(row: Mapping[str, float], rules: Mapping[str, bool], s: StrategySettings) -> tuple[str, ...]:
    reasons = [
        f"trend: close above EMA{s.ema_slow_period}, EMA{s.ema_mid_period} above EMA{s.ema_slow_period}, "
        f"ADX {row['adx']:.1f} >= {s.adx_min:g}",
        f"RSI{s.rsi_fast_period} {row['rsi_fast']:.1f} rising after < {s.rsi_oversold:g}; "
        f"RSI{s.rsi_slow_period} {row['rsi_slow']:.1f} < {s.rsi_slow_max:g}; close above EMA{s.ema_fast_period}",
        f"volume {row['volume']:.6g} >= {s.volume_min_ratio:g} x average {row['volume_avg']:.6g}",
    ]
    reasons.extend(f"confirmation: {name}" for name in CONFIRMATIONS if rules[name])
    return tuple(reasons)


def _signal_at(symbol: str, row: Mapping[str, float], rules: Mapping[str, bool], s: StrategySettings) -> EntrySignal:
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
    tail = frame.iloc[-(s.rsi_oversold_lookback + 1) :] if len(frame) > s.rsi_oversold_lookback else frame
    arrays = {name: tail[name].to_numpy(dtype="float64") for name in ("open", "close", "volume", *INDICATOR_COLUMNS)}
    rules = entry_block(arrays, s)
    if not bool(rules["entry"][-1]):
        return None
    row = {**tail.iloc[-1].to_dict(), "confidence": rules["confidence"][-1], "stop_price": rules["stop_price"][-1]}
    return _signal_at(symbol, row, {name: bool(rules[name][-1]) for name in CONFIRMATIONS}, s)


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
            for name in ("time", "open", "high", "low", "close", "volume")
        }
        block.update(indicator_block(block["high"], block["low"], block["close"], block["volume"], s))
        rules = entry_block(block, s)
        last = {name: values[-1] for name, values in {**block, **rules}.items()}
        for col, symbol in enumerate(symbols):
            row = {name: float(values[col]) for name, values in last.items()}
            candle = LastCandle.from_row(symbol, row)
            signal = None
            if bool(last["entry"][col]):
                signal = _signal_at(symbol, row, {name: bool(last[name][col]) for name in CONFIRMATIONS}, s)
            results[symbol] = ScanResult(symbol, candle, signal, () if signal else _blocked_by(row, s))
    return results


def scan_frame(symbol: str, candles: pd.DataFrame, s: StrategySettings) -> ScanResult | None:
    """One market through the same path as scan_frames."""
    return scan_frames({symbol: candles}, s).get(symbol)


__all__ = (
    "CONFIRMATIONS",
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
