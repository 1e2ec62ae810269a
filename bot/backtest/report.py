"""The backtest report: the period with dates; per account, per pair and per exit reason the trade figures;
return, drawdown with its dates, Sharpe, Sortino, Calmar and exposure per account; buy-and-hold of the same
pairs as the benchmark; each follower's tracking against its master; the trade list as CSV; the equity curves."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.backtest.engine import Account, BacktestResult
from bot.backtest.metrics import (
    buy_and_hold,
    curve_stats,
    stats_by_exit_reason,
    stats_by_pair,
    tracking,
    trade_stats,
)

TRADE_COLUMNS = (
    "account", "pair", "side", "opened_at", "closed_at", "quantity", "entry_price", "exit_price", "cost",
    "proceeds", "fees", "pnl", "return", "exit_reason", "exit_reasons",
)


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class AccountReport:
    account: str
    start_balance: float
    final_equity: float
    trades: int  # closed round trips
    wins: int
    win_rate: float  # wins / trades, 0 when no trade
    avg_win: float
    avg_loss: float
    profit_factor: float | None
    expectancy: float
    total_return: float  # final equity / start balance - 1 (open positions valued at the last close)
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float  # largest fall from a peak of the equity curve, a fraction
    max_drawdown_peak: str | None
    max_drawdown_trough: str | None
    max_drawdown_recovered: str | None
    fees_paid: float
    exposure: float  # share of candles with something held
    avg_invested: float  # mean share of equity held in positions while exposed
    open_positions: int
    skipped: dict[str, int]
    by_pair: dict[str, dict[str, object]]
    by_exit_reason: dict[str, dict[str, object]]


def close_times(result: BacktestResult) -> np.ndarray:
    return result.timeline.astype("int64") + result.candle_seconds


def account_report(account: Account, steps: int, times: np.ndarray | None = None) -> AccountReport:
    times = times if times is not None else np.arange(len(account.equity_curve), dtype="int64") * 3600
    trades = trade_stats([t.pnl for t in account.trades], [t.fees for t in account.trades])
    curve = curve_stats(account.equity_curve, times, account.start_balance)
    final = float(account.equity_curve[-1]) if account.equity_curve.size else account.start_balance
    drawdown = curve.max_drawdown
    return AccountReport(
        account=account.name,
        start_balance=round(account.start_balance, 2),
        final_equity=round(final, 2),
        trades=trades.trades,
        wins=trades.wins,
        win_rate=trades.win_rate,
        avg_win=trades.avg_win,
        avg_loss=trades.avg_loss,
        profit_factor=trades.profit_factor,
        expectancy=trades.expectancy,
        total_return=curve.total_return,
        cagr=curve.cagr,
        sharpe=curve.sharpe,
        sortino=curve.sortino,
        calmar=curve.calmar,
        max_drawdown=drawdown.depth,
        max_drawdown_peak=iso(drawdown.peak_time),
        max_drawdown_trough=iso(drawdown.trough_time),
        max_drawdown_recovered=iso(drawdown.recovered_time),
        fees_paid=round(account.fees, 2),
        exposure=round(account.exposed_steps / steps, 4) if steps else 0.0,
        avg_invested=round(account.invested_fraction_sum / account.exposed_steps, 4) if account.exposed_steps else 0.0,
        open_positions=len(account.books),
        skipped=dict(account.skipped.most_common()),
        by_pair={pair: asdict(stats) for pair, stats in stats_by_pair(account.trades).items()},
        by_exit_reason={reason: asdict(stats) for reason, stats in stats_by_exit_reason(account.trades).items()},
    )


def benchmark(result: BacktestResult) -> tuple[dict[str, object], np.ndarray]:
    """Buy-and-hold of the run's pairs with the master's balance, and its curve."""
    master = result.accounts[0]
    closes = {pair: result.closes(pair) for pair in result.pairs} if result.prepared is not None else {}
    equity = buy_and_hold(closes, master.start_balance, result.rules.fee_rate, result.rules.slippage)
    curve = curve_stats(equity, close_times(result), master.start_balance)
    return {
        "name": "buy and hold, equal weight",
        "final_equity": round(float(equity[-1]), 2) if equity.size else master.start_balance,
        "total_return": curve.total_return,
        "cagr": curve.cagr,
        "sharpe": curve.sharpe,
        "sortino": curve.sortino,
        "calmar": curve.calmar,
        "max_drawdown": curve.max_drawdown.depth,
    }, equity


def sampled(values: np.ndarray, points: int) -> np.ndarray:
    """At most `points` evenly spaced values (the last one always kept); 0 keeps every value."""
    if points <= 0 or values.size <= points:
        return values
    index = np.unique(np.append(np.linspace(0, values.size - 1, points).astype("int64"), values.size - 1))
    return values[index]


def build_report(
    result: BacktestResult, *, data: str, timeframe: str, seconds: float, curve_points: int = 2000
) -> dict[str, object]:
    """The whole run as one JSON-ready object (the equity curves sampled to `curve_points`; 0: every candle)."""
    steps = len(result.timeline)
    times = close_times(result)
    accounts = [account_report(account, steps, times) for account in result.accounts]
    master_account = result.accounts[0]
    rows = []
    for report, account in zip(accounts, result.accounts, strict=True):
        row = asdict(report)
        if account is not master_account and steps:
            row["tracking"] = tracking(account.equity_curve, account.start_balance, master_account.equity_curve,
                                       master_account.start_balance, times)
        rows.append(row)
    bench, bench_curve = benchmark(result)
    return {
        "data": data,
        "pairs": list(result.pairs),
        "timeframe": timeframe,
        "exchange": result.rules.exchange,
        "fee_rate": result.rules.fee_rate,
        "min_notional": result.rules.min_notional,
        "slippage": result.rules.slippage,
        "start": int(result.timeline[0]) if steps else None,
        "end": int(result.timeline[-1]) + result.candle_seconds if steps else None,
        "period": {"from": iso(float(result.timeline[0])) if steps else None,
                   "to": iso(float(times[-1])) if steps else None,
                   "days": round((float(times[-1]) - float(result.timeline[0])) / 86400, 1) if steps else 0.0},
        "candles": result.candles,
        "seconds": round(seconds, 3),
        "accounts": rows,
        "benchmark": bench,
        "equity_curve": {
            "time": sampled(times, curve_points).tolist(),
            "accounts": {a.name: np.round(sampled(a.equity_curve, curve_points), 4).tolist() for a in result.accounts},
            "benchmark": np.round(sampled(bench_curve, curve_points), 4).tolist(),
        },
    }


def write_trades(result: BacktestResult, path: Path) -> int:
    """Every closed trade of every account as one CSV row; returns how many."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRADE_COLUMNS)
        for account in result.accounts:
            for t in account.trades:
                writer.writerow([
                    account.name, t.symbol, "long", iso(t.opened_at), iso(t.closed_at), f"{t.quantity:.8f}",
                    f"{t.entry_price:.8g}", f"{t.exit_price:.8g}", f"{t.cost:.4f}", f"{t.proceeds:.4f}",
                    f"{t.fees:.4f}", f"{t.pnl:.4f}", f"{t.return_fraction:.6f}", t.exit_reason,
                    "+".join(fill.reason for fill in t.exits),
                ])
                count += 1
    return count


def _percent(value: object) -> str:
    return "-" if value is None else f"{float(value) * 100:.2f}%"


def _number(value: object, digits: int = 2) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def _breakdown(title: str, rows: dict[str, dict[str, object]]) -> list[str]:
    lines = [f"  {title:<22}{'trades':>7}{'win rate':>10}{'avg win':>10}{'avg loss':>10}{'PF':>7}"
             f"{'expect.':>9}{'P&L':>10}{'fees':>9}"]
    for name, s in rows.items():
        lines.append(
            f"  {name:<22}{s['trades']:>7}{_percent(s['win_rate']):>10}{_number(s['avg_win']):>10}"
            f"{_number(s['avg_loss']):>10}{_number(s['profit_factor']):>7}{_number(s['expectancy']):>9}"
            f"{_number(s['pnl']):>10}{_number(s['fees']):>9}"
        )
    return lines


def format_table(report: dict[str, object]) -> str:
    """A readable report: the run, one line per account, the benchmark, then the master's breakdowns."""
    accounts = report["accounts"]
    assert isinstance(accounts, list)
    period = report["period"]
    assert isinstance(period, dict)
    header = (
        f"{'account':<12}{'start':>10}{'final':>10}{'trades':>7}{'win rate':>9}{'return':>9}{'max dd':>8}"
        f"{'Sharpe':>8}{'Sortino':>8}{'Calmar':>8}{'PF':>6}{'fees':>9}{'exposure':>9}"
    )
    lines = [
        f"APEX backtest {', '.join(report['pairs'])} {report['timeframe']} on {report['exchange']} rules "
        f"(fee {float(report['fee_rate']) * 100:.2f} %, minimum {report['min_notional']} USD)",
        f"period {period['from']} .. {period['to']} UTC ({period['days']} days), "
        f"{report['candles']} candles in {report['seconds']} s",
        header,
        "-" * len(header),
    ]
    for row in accounts:
        lines.append(
            f"{row['account']:<12}{row['start_balance']:>10,.2f}{row['final_equity']:>10,.2f}{row['trades']:>7}"
            f"{_percent(row['win_rate']):>9}{_percent(row['total_return']):>9}{_percent(row['max_drawdown']):>8}"
            f"{_number(row['sharpe']):>8}{_number(row['sortino']):>8}{_number(row['calmar']):>8}"
            f"{_number(row['profit_factor']):>6}{row['fees_paid']:>9,.2f}{_percent(row['exposure']):>9}"
        )
    bench = report["benchmark"]
    assert isinstance(bench, dict)
    lines.append(
        f"{'buy & hold':<12}{accounts[0]['start_balance']:>10,.2f}{bench['final_equity']:>10,.2f}{'':>7}{'':>9}"
        f"{_percent(bench['total_return']):>9}{_percent(bench['max_drawdown']):>8}{_number(bench['sharpe']):>8}"
        f"{_number(bench['sortino']):>8}{_number(bench['calmar']):>8}"
    )
    master = accounts[0]
    if master["max_drawdown"]:
        recovered = master["max_drawdown_recovered"]
        recovery = f"back at the peak {recovered}" if recovered else "not back at the peak by the end"
        lines.append(f"master's max drawdown: peak {master['max_drawdown_peak']}, trough "
                     f"{master['max_drawdown_trough']}, {recovery}")
    for row in accounts[1:]:
        track = row.get("tracking", {})
        lines.append(f"{row['account']}: tracking difference {_percent(track.get('tracking_difference'))} "
                     f"(tracking error {_percent(track.get('tracking_error'))} a year) against the master")
    if master["by_pair"]:
        lines.append("master by pair:")
        lines.extend(_breakdown("pair", master["by_pair"]))
        lines.append("master by exit reason (one row per sale):")
        lines.extend(_breakdown("exit reason", master["by_exit_reason"]))
    for row in accounts:
        for reason, count in row["skipped"].items():
            lines.append(f"  {row['account']}: skipped {count} x {reason}")
    return "\n".join(lines)
