"""The backtest as a PNG (matplotlib's file-only Agg backend): a price panel per pair with the master's
entries and exits, then equity, drawdown and followers' tracking difference for every account."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: the backtester only writes files

import matplotlib.pyplot as plt

from bot.backtest.chart import EXIT_COLOURS, FOLLOWER_COLOURS, chart_data
from bot.backtest.engine import BacktestResult


def plot_png(result: BacktestResult, path: Path, title: str = "") -> None:
    chart = chart_data(result, title)
    followers = [a for a in chart.accounts if not a.is_master]
    panels = len(chart.pairs) + 2 + (1 if followers else 0)
    ratios = [2.0] * len(chart.pairs) + [2.2, 1.2] + ([1.2] if followers else [])
    figure, axes = plt.subplots(panels, 1, figsize=(13, 2.3 * sum(ratios)), sharex=True,
                                gridspec_kw={"height_ratios": ratios})
    try:
        for axis, pair in zip(axes, chart.pairs, strict=False):
            axis.plot(pair.times, pair.closes, color="#444444", linewidth=0.6, label=f"{pair.pair} close")
            axis.scatter(pair.entries.times, pair.entries.prices, marker="^", s=40, color="#2ca02c",
                         edgecolor="black", linewidth=0.4, zorder=3, label="entry")
            for reason in sorted(set(pair.exits.labels)):
                picked = [i for i, label in enumerate(pair.exits.labels) if label == reason]
                axis.scatter(pair.exits.times[picked], pair.exits.prices[picked], marker="v", s=40,
                             color=EXIT_COLOURS.get(reason, "black"), edgecolor="black", linewidth=0.4, zorder=3,
                             label=f"exit: {reason}")
            axis.set_ylabel(pair.pair)
            axis.legend(loc="upper left", fontsize="x-small", ncol=4)
            axis.grid(alpha=0.3)
        equity_axis, drawdown_axis = axes[len(chart.pairs)], axes[len(chart.pairs) + 1]
        for index, account in enumerate(chart.accounts):
            style = ({"color": "black", "linewidth": 1.6} if account.is_master else
                     {"color": FOLLOWER_COLOURS[index % len(FOLLOWER_COLOURS)], "linewidth": 0.9,
                      "linestyle": "--"})
            label = f"{account.name} ({account.return_percent[-1]:+.2f} %)"
            equity_axis.plot(account.times, account.return_percent, label=label, **style)
            drawdown_axis.plot(account.times, account.drawdown_percent, **style)
            if account.tracking_percent is not None:
                axes[-1].plot(account.times, account.tracking_percent, label=account.name, **style)
        equity_axis.axhline(0.0, color="grey", linewidth=0.6)
        equity_axis.set_ylabel("return %")
        equity_axis.legend(loc="upper left", fontsize="x-small", ncol=4)
        drawdown_axis.set_ylabel("drawdown %")
        if followers:
            axes[-1].axhline(0.0, color="black", linewidth=1.0)
            axes[-1].set_ylabel("follower - master\n(% points)")
            axes[-1].legend(loc="upper left", fontsize="x-small", ncol=4)
        for axis in axes[len(chart.pairs):]:
            axis.grid(alpha=0.3)
        figure.suptitle(chart.title)
        figure.tight_layout(rect=(0.0, 0.0, 1.0, 0.985))
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
