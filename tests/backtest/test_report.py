"""The report to decide with (issue 14): dates, per pair and per exit reason, risk ratios, the benchmark,
tracking, the trade CSV and the equity curve in the JSON, and both pictures."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from bot.backtest.command import add_arguments, run
from bot.backtest.metrics import buy_and_hold, curve_stats, max_drawdown, trade_stats
from bot.config.settings import Settings

DAY = 86_400


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def exported(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("report")
    trades = out / "trades.csv"
    args = parse("--data", str(data_dir / "coinbase"), "--followers", "2", "--json", "--trades", str(trades),
                 "--curve-points", "500")
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert run(args, Settings()) == 0
    return json.loads(buffer.getvalue()), trades


def test_the_report_has_dates_breakdowns_ratios_benchmark_and_tracking(exported: tuple[dict, Path]) -> None:
    report, _ = exported
    assert report["period"] == {"from": "2024-04-18 17:00", "to": "2026-05-08 17:00", "days": 750.0}
    master, first, second = report["accounts"]
    for key in ("sharpe", "sortino", "calmar", "profit_factor", "expectancy", "avg_win", "avg_loss", "cagr",
                "max_drawdown_peak", "max_drawdown_trough", "exposure"):
        assert key in master
    assert master["trades"] > 0
    assert sum(row["trades"] for row in master["by_pair"].values()) == master["trades"]
    sales = sum(row["trades"] for row in master["by_exit_reason"].values())
    assert sales >= master["trades"]  # a first-target half-sale and the rest count once each
    assert sum(row["pnl"] for row in master["by_pair"].values()) == pytest.approx(
        sum(row["pnl"] for row in master["by_exit_reason"].values()), abs=1e-3)
    assert report["benchmark"]["total_return"] < 0  # four coins that fell over these two years
    assert "tracking" not in master
    assert first["tracking"]["tracking_difference"] == pytest.approx(0.0, abs=1e-4)  # proportional copies
    curve = report["equity_curve"]
    assert len(curve["time"]) == len(curve["accounts"]["master"]) == len(curve["benchmark"]) <= 501
    assert curve["accounts"]["master"][-1] == pytest.approx(master["final_equity"], abs=0.01)
    assert curve["accounts"]["follower_2"][0] == second["start_balance"]


def test_the_trade_csv_has_every_trade_of_every_account(exported: tuple[dict, Path]) -> None:
    report, path = exported
    rows = list(csv.DictReader(path.open()))
    assert report["trades_written"] == len(rows) == sum(a["trades"] for a in report["accounts"])
    master_rows = [r for r in rows if r["account"] == "master"]
    assert sum(float(r["pnl"]) for r in master_rows) == pytest.approx(
        sum(row["pnl"] for row in report["accounts"][0]["by_pair"].values()), abs=0.01)
    for row in master_rows:
        assert row["side"] == "long" and row["opened_at"] <= row["closed_at"]
        assert float(row["pnl"]) == pytest.approx(float(row["proceeds"]) - float(row["cost"]), abs=1e-3)
        assert row["exit_reasons"].split("+")[-1] == row["exit_reason"]


def test_both_pictures_are_written(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png, html = tmp_path / "run.png", tmp_path / "run.html"
    base = ["--data", str(data_dir / "coinbase"), "--pairs", "BTC-USD,SOL-USD", "--followers", "1"]
    assert run(parse(*base, "--plot", str(png)), Settings()) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run(parse(*base, "--plot", str(html)), Settings()) == 0
    page = html.read_text()
    assert "<html" in page and "plotly" in page.lower()
    for name in ("BTC-USD close", "SOL-USD close", "follower_1", "drawdown %", "follower return - master return"):
        assert name in page
    capsys.readouterr()
    assert run(parse(*base, "--plot", str(tmp_path / "run.jpg")), Settings()) == 2
    err = capsys.readouterr().err.strip()
    assert "--plot" in err and ".png or .html" in err and len(err.splitlines()) == 1


def test_trade_stats_and_curve_stats_on_known_numbers() -> None:
    stats = trade_stats([10.0, -5.0, 20.0, -5.0], [1.0, 1.0, 1.0, 1.0])
    assert (stats.trades, stats.wins, stats.win_rate) == (4, 2, 0.5)
    assert stats.avg_win == 15.0 and stats.avg_loss == -5.0
    assert stats.profit_factor == 3.0 and stats.expectancy == 5.0 and stats.fees == 4.0
    assert trade_stats([1.0], [0.0]).profit_factor is None  # no loss: undefined, not infinite
    times = np.arange(5) * DAY + DAY
    equity = np.array([100.0, 110.0, 99.0, 104.5, 121.0])
    drawdown = max_drawdown(equity, times)
    assert drawdown.depth == pytest.approx(0.1)
    assert (drawdown.peak_time, drawdown.trough_time, drawdown.recovered_time) == (2 * DAY, 3 * DAY, 5 * DAY)
    stats_curve = curve_stats(equity, times, 100.0)
    returns = np.diff(equity) / equity[:-1]
    assert stats_curve.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * np.sqrt(365), rel=1e-3)
    assert stats_curve.total_return == pytest.approx(0.21)
    assert stats_curve.calmar == pytest.approx(stats_curve.cagr / 0.1, rel=1e-3)


def test_buy_and_hold_pays_fees_and_waits_for_a_pair_to_exist() -> None:
    closes = {"A-USD": np.array([10.0, 11.0, 12.0]), "B-USD": np.array([np.nan, 5.0, 5.0])}
    equity = buy_and_hold(closes, 1_000.0, 0.01, 0.0)
    assert equity[0] == pytest.approx(500.0 / 1.01 + 500.0)  # B is cash until its first candle
    assert equity[-1] == pytest.approx(500 / 1.01 / 10 * 12 * 0.99 + 500 / 1.01 / 5 * 5 * 0.99)
