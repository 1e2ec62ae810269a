"""Equity curves of a backtest, one line per account, as a PNG (matplotlib's file-only Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: the backtester only writes files

import matplotlib.pyplot as plt
import numpy as np

from bot.backtest.engine import BacktestResult


def plot_equity(result: BacktestResult, path: Path, title: str = "") -> None:
    """Equity as a multiple of each account's start balance, so a $40 follower and a $1,000 master share one axis."""
    days = (result.timeline - result.timeline[0]) / 86400.0 if len(result.timeline) else np.zeros(0)
    figure, axis = plt.subplots(figsize=(11, 5.5))
    try:
        for account in result.accounts:
            axis.plot(days, account.equity_curve / account.start_balance, linewidth=1.0,
                      label=f"{account.name} (start {account.start_balance:,.2f})")
        axis.axhline(1.0, color="grey", linewidth=0.6, linestyle="--")
        axis.set_xlabel("days")
        axis.set_ylabel("equity / start balance")
        axis.set_title(title or f"APEX backtest: {', '.join(result.pairs)}")
        axis.legend(loc="best", fontsize="small")
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
