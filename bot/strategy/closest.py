"""The market nearest to an APEX entry after a scan, and what it still lacks, in plain words (for the console).

A pure function of the scan's results: no state, no clock. Markets are ranked by how many of the required rules
(trend, trigger, liquidity, confidence) they fail, then by how far they are from meeting them, measured on the
last closed candle's own numbers. The words say what a person would check on a chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import ScanResult
from bot.strategy.indicators import LastCandle


@dataclass(frozen=True)
class Candidate:
    symbol: str
    lacks: tuple[str, ...]  # one phrase per rule not met, e.g. "trigger: RSI14 53.1, needs under 50"


def _gap(value: float, limit: float, scale: float) -> float:
    """How far `value` is above `limit`, relative to `scale` (0 when it is not above)."""
    return max(0.0, value - limit) / scale if scale else 0.0


def _trend(c: LastCandle, s: StrategySettings) -> tuple[float, str]:
    parts, shortfall = [], 0.0
    if c.close <= c.ema_slow:
        parts.append(f"close under EMA{s.ema_slow_period}")
        shortfall += _gap(c.ema_slow, c.close, c.close)
    if c.ema_mid <= c.ema_slow:
        parts.append(f"EMA{s.ema_mid_period} under EMA{s.ema_slow_period}")
        shortfall += _gap(c.ema_slow, c.ema_mid, c.ema_mid)
    if c.adx < s.adx_min:
        parts.append(f"ADX {c.adx:.1f}, needs {s.adx_min:g}")
        shortfall += _gap(s.adx_min, c.adx, 100.0)
    return shortfall, "trend: " + (", ".join(parts) or "not met")


def _trigger(c: LastCandle, s: StrategySettings) -> tuple[float, str]:
    parts, shortfall = [], 0.0
    if c.rsi_fast >= s.rsi_oversold:
        parts.append(f"RSI{s.rsi_fast_period} {c.rsi_fast:.1f}, needs a dip under {s.rsi_oversold:g} then a rise")
        shortfall += _gap(c.rsi_fast, s.rsi_oversold, 100.0)
    if c.rsi_slow >= s.rsi_slow_max:
        parts.append(f"RSI{s.rsi_slow_period} {c.rsi_slow:.1f}, needs under {s.rsi_slow_max:g}")
        shortfall += _gap(c.rsi_slow, s.rsi_slow_max, 100.0)
    if c.close <= c.ema_fast:
        parts.append(f"close under EMA{s.ema_fast_period}")
        shortfall += _gap(c.ema_fast, c.close, c.close)
    return shortfall, "trigger: " + (", ".join(parts) or f"RSI{s.rsi_fast_period} not rising after its dip")


def _liquidity(c: LastCandle, s: StrategySettings) -> tuple[float, str]:
    ratio = c.volume / c.volume_avg if c.volume_avg > 0 else 0.0
    return (_gap(s.volume_min_ratio, ratio, 1.0),
            f"liquidity: volume {ratio:.2f}x its average, needs {s.volume_min_ratio:g}x")


def _describe(rule: str, c: LastCandle, s: StrategySettings) -> tuple[float, str]:
    if rule == "trend":
        return _trend(c, s)
    if rule == "trigger":
        return _trigger(c, s)
    if rule == "liquidity":
        return _liquidity(c, s)
    if rule == "confidence":
        return 0.0, f"confidence: the confirmations score under {s.min_confidence:g}"
    return math.inf, f"{rule}: not enough candles yet"


def closest_candidate(results: Mapping[str, ScanResult], s: StrategySettings) -> Candidate | None:
    """The market with the fewest unmet rules (then the smallest shortfall), or None when none was scanned.

    A market that has a signal lacks nothing: it is returned with an empty `lacks`.
    """
    best: tuple[int, float, str] | None = None
    chosen: Candidate | None = None
    for symbol in sorted(results):
        result = results[symbol]
        if result.signal is not None:
            return Candidate(symbol, ())
        described = [_describe(rule, result.last, s) for rule in result.blocked_by]
        key = (len(described), sum(gap for gap, _ in described), symbol)
        if best is None or key < best:
            best, chosen = key, Candidate(symbol, tuple(text for _, text in described))
    return chosen
