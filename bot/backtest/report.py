"""Per-account figures of a backtest: trades, win rate, total return, max drawdown, fees, exposure."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bot.backtest.engine import Account, BacktestResult


@dataclass(frozen=True)
class AccountReport:
    account: str
    start_balance: float
    final_equity: float
    trades: int  # closed round trips
    wins: int
    win_rate: float  # wins / trades, 0 when no trade
    total_return: float  # final equity / start balance - 1 (open positions valued at the last close)
    max_drawdown: float  # largest fall from a peak of the equity curve, a fraction
    fees_paid: float
    exposure: float  # share of candles with something held
    avg_invested: float  # mean share of equity held in positions while exposed
    open_positions: int
    skipped: dict[str, int]


def max_drawdown(equity: np.ndarray) -> float:
    if equity.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, (peaks - equity) / peaks, 0.0)
    return float(falls.max())


def account_report(account: Account, steps: int) -> AccountReport:
    wins = sum(1 for trade in account.trades if trade.pnl > 0)
    trades = len(account.trades)
    final = float(account.equity_curve[-1]) if account.equity_curve.size else account.start_balance
    return AccountReport(
        account=account.name,
        start_balance=round(account.start_balance, 2),
        final_equity=round(final, 2),
        trades=trades,
        wins=wins,
        win_rate=round(wins / trades, 4) if trades else 0.0,
        total_return=round(final / account.start_balance - 1.0, 6),
        max_drawdown=round(max_drawdown(account.equity_curve), 6),
        fees_paid=round(account.fees, 2),
        exposure=round(account.exposed_steps / steps, 4) if steps else 0.0,
        avg_invested=round(account.invested_fraction_sum / account.exposed_steps, 4) if account.exposed_steps else 0.0,
        open_positions=len(account.books),
        skipped=dict(account.skipped.most_common()),
    )


def build_report(result: BacktestResult, *, data: str, timeframe: str, seconds: float) -> dict[str, object]:
    """The whole run as one JSON-ready object."""
    steps = len(result.timeline)
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
        "candles": result.candles,
        "seconds": round(seconds, 3),
        "accounts": [asdict(account_report(account, steps)) for account in result.accounts],
    }


def format_table(report: dict[str, object]) -> str:
    """A readable table, one line per account, then the skipped orders."""
    accounts = report["accounts"]
    assert isinstance(accounts, list)
    header = (
        f"{'account':<12}{'start':>11}{'final':>11}{'trades':>8}{'win rate':>10}{'return':>10}"
        f"{'max dd':>9}{'fees':>10}{'exposure':>10}"
    )
    lines = [
        f"APEX backtest {report['pairs']} {report['timeframe']} on {report['exchange']} rules "
        f"(fee {float(report['fee_rate']) * 100:.2f} %, minimum {report['min_notional']} USD): "
        f"{report['candles']} candles in {report['seconds']} s",
        header,
        "-" * len(header),
    ]
    for row in accounts:
        lines.append(
            f"{row['account']:<12}{row['start_balance']:>11,.2f}{row['final_equity']:>11,.2f}{row['trades']:>8}"
            f"{row['win_rate'] * 100:>9.1f}%{row['total_return'] * 100:>9.2f}%{row['max_drawdown'] * 100:>8.2f}%"
            f"{row['fees_paid']:>10,.2f}{row['exposure'] * 100:>9.1f}%"
        )
    for row in accounts:
        for reason, count in row["skipped"].items():
            lines.append(f"  {row['account']}: skipped {count} x {reason}")
    return "\n".join(lines)
