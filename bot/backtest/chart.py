"""What the backtest pictures show, computed once for both renderers (PNG with matplotlib, HTML with plotly).

Per pair: its closes and the master's entries and exits (the followers trade at the same moments and
prices). Per account: equity as a return on its own start balance, and its drawdown, so a 40 USD
follower and a 1,000 USD master share one axis; followers are drawn dashed, and their tracking
difference against the master gets a panel of its own, so a follower that drifts is visible even
when the curves lie on top of each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.backtest.engine import BacktestResult

MAX_POINTS = 4000  # per line: a 15m run has 70,000 candles per pair, more than any screen has pixels


@dataclass(frozen=True)
class Markers:
    times: np.ndarray  # datetime64[s]
    prices: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True)
class PairChart:
    pair: str
    times: np.ndarray  # datetime64[s]
    closes: np.ndarray
    entries: Markers
    exits: Markers


@dataclass(frozen=True)
class AccountChart:
    name: str
    is_master: bool
    times: np.ndarray
    return_percent: np.ndarray  # equity / start balance - 1, in percent
    drawdown_percent: np.ndarray  # fall from the running peak, in percent (0 or negative)
    tracking_percent: np.ndarray | None  # follower return minus master return, percentage points


@dataclass(frozen=True)
class Chart:
    title: str
    pairs: tuple[PairChart, ...]
    accounts: tuple[AccountChart, ...]


def _stride(length: int) -> np.ndarray:
    if length <= MAX_POINTS:
        return np.arange(length)
    return np.unique(np.append(np.linspace(0, length - 1, MAX_POINTS).astype("int64"), length - 1))


def _when(seconds: np.ndarray) -> np.ndarray:
    return np.asarray(seconds, dtype="int64").astype("datetime64[s]")


def chart_data(result: BacktestResult, title: str = "") -> Chart:
    times = result.timeline.astype("int64") + result.candle_seconds  # candle closes
    keep = _stride(len(times))
    master = result.accounts[0]
    pairs = []
    for pair in result.pairs:
        trades = [t for t in master.trades if t.symbol == pair]
        entries = Markers(_when(np.array([t.opened_at for t in trades])), np.array([t.entry_price for t in trades]),
                          tuple("entry" for _ in trades))
        fills = [fill for t in trades for fill in t.exits]
        exits = Markers(_when(np.array([f.time for f in fills])), np.array([f.price for f in fills]),
                        tuple(f.reason for f in fills))
        pairs.append(PairChart(pair, _when(times[keep]), result.closes(pair)[keep], entries, exits))
    master_return = master.equity_curve / master.start_balance - 1.0
    accounts = []
    for account in result.accounts:
        equity = account.equity_curve
        ret = equity / account.start_balance - 1.0
        peaks = np.maximum.accumulate(equity)
        drawdown = np.where(peaks > 0, equity / peaks - 1.0, 0.0)
        is_master = account is master
        accounts.append(AccountChart(
            account.name, is_master, _when(times[keep]), ret[keep] * 100, drawdown[keep] * 100,
            None if is_master else (ret - master_return)[keep] * 100,
        ))
    return Chart(title or f"APEX backtest on {result.rules.exchange} rules", tuple(pairs), tuple(accounts))


EXIT_COLOURS = {
    "stop": "#d62728", "breakeven_stop": "#ff7f0e", "trailing_stop": "#9467bd", "first_target": "#2ca02c",
    "second_target": "#17becf", "rsi_overbought": "#8c564b", "time": "#7f7f7f",
}
FOLLOWER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
