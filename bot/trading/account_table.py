"""The start-up account table: every account, its state, the reason and the exact fix (docs/rules.md §1)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.accounts.states import AccountStatus
from bot.brokers.base import BalanceSnapshot
from bot.config.accounts import AccountConfig
from bot.console.tables import Column, state_style
from bot.console.tables import render_table as draw

COLUMNS = (Column("account", style="bold"), Column("role"), Column("state"), Column("equity USD", "right"),
           Column("reason and fix", wraps=True))


def render_table(
    title: str, rows: Sequence[tuple[AccountConfig, AccountStatus, BalanceSnapshot | None]], *, terminal: bool = False
) -> str:
    cells, styles = [], []
    for account, status, snapshot in rows:
        equity = f"{snapshot.equity:,.2f}" if snapshot is not None else "-"
        reason = status.reason + (f"\nfix: {status.fix}" if status.fix else "")
        cells.append((account.label, str(account.role), str(status.state), equity, reason))
        styles.append(state_style(str(status.state)))
    return "\n" + draw(title, COLUMNS, cells, terminal=terminal, row_styles=styles)
