"""The start-up account table: every account, its state, the reason and the exact fix (docs/rules.md §1)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.accounts.states import AccountStatus
from bot.brokers.base import BalanceSnapshot
from bot.config.accounts import AccountConfig


def render_table(
    title: str, rows: Sequence[tuple[AccountConfig, AccountStatus, BalanceSnapshot | None]]
) -> str:
    header = f"{'account':<28} {'role':<6} {'state':<15} {'equity USD':>12}  reason"
    lines = ["", title, header, "-" * 100]
    for account, status, snapshot in rows:
        equity = f"{snapshot.equity:,.2f}" if snapshot is not None else "-"
        lines.append(f"{account.label:<28} {account.role!s:<6} {status.state!s:<15} {equity:>12}  {status.reason}")
        if status.fix:
            lines.append(f"{'':<28} {'':<6} {'':<15} {'':>12}  fix: {status.fix}")
    lines.append("-" * 100)
    return "\n".join(lines)
