"""The backtest as one interactive HTML page (plotly, the library embedded so it opens offline): the same
panels as the PNG, with zoom, hover and legend toggles."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bot.backtest.chart import EXIT_COLOURS, FOLLOWER_COLOURS, chart_data
from bot.backtest.engine import BacktestResult


def plot_html(result: BacktestResult, path: Path, title: str = "") -> None:
    chart = chart_data(result, title)
    followers = [a for a in chart.accounts if not a.is_master]
    titles = [*(p.pair for p in chart.pairs), "return % (each account on its own start balance)", "drawdown %"]
    if followers:
        titles.append("follower return - master return (% points)")
    rows = len(titles)
    figure = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03, subplot_titles=titles)
    for row, pair in enumerate(chart.pairs, start=1):
        figure.add_trace(go.Scatter(x=pair.times, y=pair.closes, mode="lines", name=f"{pair.pair} close",
                                    line={"color": "#444444", "width": 1}), row=row, col=1)
        figure.add_trace(go.Scatter(x=pair.entries.times, y=pair.entries.prices, mode="markers", name="entry",
                                    legendgroup="entry", showlegend=row == 1,
                                    marker={"symbol": "triangle-up", "size": 10, "color": "#2ca02c"}), row=row, col=1)
        for reason in sorted(set(pair.exits.labels)):
            picked = [i for i, label in enumerate(pair.exits.labels) if label == reason]
            figure.add_trace(go.Scatter(
                x=pair.exits.times[picked], y=pair.exits.prices[picked], mode="markers", name=f"exit: {reason}",
                legendgroup=reason, marker={"symbol": "triangle-down", "size": 10,
                                            "color": EXIT_COLOURS.get(reason, "black")},
            ), row=row, col=1)
    base = len(chart.pairs)
    for index, account in enumerate(chart.accounts):
        line = ({"color": "black", "width": 2.5} if account.is_master else
                {"color": FOLLOWER_COLOURS[index % len(FOLLOWER_COLOURS)], "width": 1.2, "dash": "dash"})
        group = account.name
        figure.add_trace(go.Scatter(x=account.times, y=account.return_percent, mode="lines", line=line,
                                    name=account.name, legendgroup=group), row=base + 1, col=1)
        figure.add_trace(go.Scatter(x=account.times, y=account.drawdown_percent, mode="lines", line=line,
                                    name=account.name, legendgroup=group, showlegend=False), row=base + 2, col=1)
        if account.tracking_percent is not None:
            figure.add_trace(go.Scatter(x=account.times, y=account.tracking_percent, mode="lines", line=line,
                                        name=account.name, legendgroup=group, showlegend=False),
                             row=base + 3, col=1)
    figure.update_layout(title=chart.title, height=260 * rows, hovermode="x unified", template="plotly_white")
    figure.write_html(str(path), include_plotlyjs=True, full_html=True)
