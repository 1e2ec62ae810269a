"""Figures to decide with, as pure functions of trades and equity curves.

Ratios are annualised over 365 days (crypto trades every day) from daily returns: the equity at the
end of each UTC day, so a 15m and a 1h run of the same period compare. A ratio whose denominator is
zero (no losing day, no drawdown, no losing trade) is None: "undefined", never a made-up infinity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.backtest.engine import Trade

DAY = 86_400
YEAR_DAYS = 365.0


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


@dataclass(frozen=True)
class TradeStats:
    trades: int
    wins: int
    win_rate: float
    avg_win: float  # quote currency, net of fees
    avg_loss: float  # quote currency, net of fees, negative
    profit_factor: float | None  # gross wins / gross losses; None without a loss
    expectancy: float  # mean P&L per trade, quote currency
    pnl: float
    fees: float


def trade_stats(pnls: Sequence[float], fees: Iterable[float]) -> TradeStats:
    """Win rate, average win and loss, profit factor and expectancy of a list of P&Ls."""
    values = np.asarray(pnls, dtype="float64")
    wins, losses = values[values > 0], values[values <= 0]
    gross_loss = -float(losses.sum())
    return TradeStats(
        trades=len(values),
        wins=len(wins),
        win_rate=round(len(wins) / len(values), 4) if len(values) else 0.0,
        avg_win=round(float(wins.mean()), 4) if len(wins) else 0.0,
        avg_loss=round(float(losses.mean()), 4) if len(losses) else 0.0,
        profit_factor=_rounded(float(wins.sum()) / gross_loss, 4) if gross_loss > 0 else None,
        expectancy=round(float(values.mean()), 4) if len(values) else 0.0,
        pnl=round(float(values.sum()), 4),
        fees=round(float(sum(fees)), 4),
    )


def stats_by_pair(trades: Sequence[Trade]) -> dict[str, TradeStats]:
    pairs = sorted({trade.symbol for trade in trades})
    return {
        pair: trade_stats([t.pnl for t in trades if t.symbol == pair], [t.fees for t in trades if t.symbol == pair])
        for pair in pairs
    }


def stats_by_exit_reason(trades: Sequence[Trade]) -> dict[str, TradeStats]:
    """Per exit reason, one entry per sale: its proceeds minus its share of the round trip's cost.

    A round trip that sold half at the first target and the rest at break-even counts once under each.
    """
    pnls: dict[str, list[float]] = {}
    fees: dict[str, list[float]] = {}
    for trade in trades:
        for fill in trade.exits:
            share = fill.quantity / trade.quantity if trade.quantity > 0 else 0.0
            pnls.setdefault(fill.reason, []).append(fill.proceeds - trade.cost * share)
            buy_fee = trade.fees - sum(f.fee for f in trade.exits)
            fees.setdefault(fill.reason, []).append(fill.fee + buy_fee * share)
    return {reason: trade_stats(pnls[reason], fees[reason]) for reason in sorted(pnls)}


@dataclass(frozen=True)
class Drawdown:
    depth: float  # the largest fall from a peak, a fraction
    peak_time: int | None  # when the peak before it was (candle close, unix seconds)
    trough_time: int | None
    recovered_time: int | None  # when equity was back at the peak; None if it never was


def max_drawdown(equity: np.ndarray, times: np.ndarray | None = None) -> Drawdown:
    """The deepest fall of an equity curve, and (given each point's time) when it began, bottomed, recovered."""
    if equity.size == 0:
        return Drawdown(0.0, None, None, None)
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, (peaks - equity) / peaks, 0.0)
    trough = int(np.argmax(falls))
    depth = float(falls[trough])
    if times is None or depth <= 0:
        return Drawdown(depth, None, None, None)
    peak = int(np.flatnonzero(equity[: trough + 1] == peaks[trough])[-1])
    later = np.flatnonzero(equity[trough:] >= peaks[trough])
    recovered = int(times[trough + later[0]]) if later.size else None
    return Drawdown(depth, int(times[peak]), int(times[trough]), recovered)


def daily_equity(equity: np.ndarray, close_times: np.ndarray) -> np.ndarray:
    """The equity at the last candle close of each UTC day, after the first point (the start)."""
    if equity.size == 0:
        return equity
    days = close_times // DAY
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    if last_of_day[0] != 0:
        last_of_day = np.insert(last_of_day, 0, 0)
    return equity[last_of_day]


@dataclass(frozen=True)
class CurveStats:
    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: Drawdown


def curve_stats(equity: np.ndarray, close_times: np.ndarray, start_balance: float) -> CurveStats:
    """Return, CAGR, Sharpe, Sortino (daily, x sqrt 365), Calmar (CAGR / max drawdown) and the drawdown."""
    drawdown = max_drawdown(equity, close_times)
    if equity.size == 0:
        return CurveStats(0.0, None, None, None, None, drawdown)
    total = float(equity[-1] / start_balance - 1.0)
    days = (int(close_times[-1]) - int(close_times[0])) / DAY if equity.size > 1 else 0.0
    cagr = (equity[-1] / start_balance) ** (YEAR_DAYS / days) - 1.0 if days > 0 and equity[-1] > 0 else None
    daily = daily_equity(equity, close_times)
    returns = np.diff(daily) / daily[:-1] if daily.size > 1 else np.zeros(0)
    sharpe = sortino = None
    if returns.size > 1:
        std = float(returns.std(ddof=1))
        sharpe = float(returns.mean()) / std * math.sqrt(YEAR_DAYS) if std > 0 else None
        downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
        sortino = float(returns.mean()) / downside * math.sqrt(YEAR_DAYS) if downside > 0 else None
    calmar = cagr / drawdown.depth if cagr is not None and drawdown.depth > 0 else None
    return CurveStats(
        total_return=round(total, 6),
        cagr=_rounded(cagr, 6),
        sharpe=_rounded(sharpe, 4),
        sortino=_rounded(sortino, 4),
        calmar=_rounded(calmar, 4),
        max_drawdown=Drawdown(round(drawdown.depth, 6), drawdown.peak_time, drawdown.trough_time,
                              drawdown.recovered_time),
    )


def tracking(follower: np.ndarray, follower_start: float, master: np.ndarray, master_start: float,
             close_times: np.ndarray) -> dict[str, float | None]:
    """A follower against its master: the difference of total returns, and the annualised tracking error
    (standard deviation of the daily return differences)."""
    f_daily = daily_equity(follower, close_times)
    m_daily = daily_equity(master, close_times)
    difference = float(follower[-1] / follower_start - master[-1] / master_start) if follower.size else 0.0
    error = None
    if f_daily.size > 2:
        gap = np.diff(f_daily) / f_daily[:-1] - np.diff(m_daily) / m_daily[:-1]
        error = float(gap.std(ddof=1)) * math.sqrt(YEAR_DAYS)
    return {"tracking_difference": round(difference, 6), "tracking_error": _rounded(error, 6)}


def buy_and_hold(closes: dict[str, np.ndarray], balance: float, fee_rate: float, slippage: float) -> np.ndarray:
    """The benchmark: the balance split evenly over the pairs, each bought at its first close of the period
    (fee and slippage paid), valued at every close after, and sold at the last (fee and slippage paid)."""
    if not closes:
        return np.zeros(0)
    length = len(next(iter(closes.values())))
    equity = np.zeros(length)
    share = balance / len(closes)
    for values in closes.values():
        known = np.flatnonzero(np.isfinite(values))
        if known.size == 0:
            equity += share
            continue
        first = int(known[0])
        quantity = share / (1.0 + fee_rate) / (values[first] * (1.0 + slippage))
        held = quantity * np.nan_to_num(values, nan=0.0)
        held[:first] = share  # cash until the pair's first candle
        held[-1] = quantity * values[-1] * (1.0 - slippage) * (1.0 - fee_rate)
        equity += held
    return equity
