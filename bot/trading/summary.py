"""The final per-account summary printed when the bot stops: trades, P&L and open positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.console.tables import Column, render_table, state_style


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


COLUMNS = (Column("account", style="bold"), Column("role"), Column("state"), Column("trades", "right"),
           Column("buys", "right"), Column("sells", "right"), Column("start USD", "right"),
           Column("equity USD", "right"), Column("P&L USD", "right"), Column("open positions", wraps=True))


def _money(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def render_summary(rows: Sequence[AccountSummary], *, terminal: bool = False) -> str:
    cells = [
        (r.label, r.role, r.state, str(r.trades), str(r.buys), str(r.sells), _money(r.start_equity),
         _money(r.equity), _money(r.pnl, True), ", ".join(r.open_positions) or "none")
        for r in rows
    ]
    styles = [state_style(r.state) for r in rows]
    return "\n" + render_table("final summary per account (this run)", COLUMNS, cells, terminal=terminal,
                               row_styles=styles)
