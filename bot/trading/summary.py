"""The final per-account summary printed when the bot stops: trades, P&L and open positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AccountSummary:
    label: str
    role: str
    state: str
    trades: int  # fills in this run
    buys: int
    sells: int
    start_equity: float | None
    equity: float | None
    pnl: float | None  # equity change over the run, USD (fees and open positions at market included)
    open_positions: tuple[str, ...]
    health: str
    errors: int


def _money(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def render_summary(rows: Sequence[AccountSummary]) -> str:
    header = (f"{'account':<28} {'role':<6} {'state':<15} {'trades':>6} {'buys':>5} {'sells':>5} "
              f"{'start USD':>12} {'equity USD':>12} {'P&L USD':>10}  open positions")
    lines = ["", "=" * len(header), "final summary per account (this run)", "=" * len(header), header,
             "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.label:<28} {r.role:<6} {r.state:<15} {r.trades:>6} {r.buys:>5} {r.sells:>5} "
            f"{_money(r.start_equity):>12} {_money(r.equity):>12} {_money(r.pnl, True):>10}  "
            f"{', '.join(r.open_positions) or 'none'}"
        )
    lines.append("=" * len(header))
    return "\n".join(lines)
