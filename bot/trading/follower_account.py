"""A follower's thread work: no strategy, only its orders in flight and the guard (docs/rules.md §5).

Followers never open positions on their own: their copies come from the copy dispatcher, and this
thread only settles the account's orders still in flight (copies and guard exits alike, through the
ledger) and runs the guard.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.brokers.base import BalanceSnapshot
from bot.copy.followers import Follower
from bot.copy.guard import FollowerGuard, GuardReport
from bot.state.store import StateStore


class FollowerAccount:
    """Each pass: read the balance (state table, pacing), then one guard pass."""

    runs_strategy = False

    def __init__(
        self,
        follower: Follower,
        guard: FollowerGuard,
        store: StateStore,
        *,
        on_balance: Callable[[BalanceSnapshot, int], None] | None = None,
    ) -> None:
        if follower.broker.name and follower.broker.name != follower.account.broker:
            raise ValueError(f"{follower.label} was given a {follower.broker.name} broker")
        self.follower = follower
        self.guard = guard
        self.store = store
        self.on_balance = on_balance
        self.snapshot: BalanceSnapshot | None = None
        self.last_report: GuardReport | None = None

    def equity(self) -> float:
        return self.snapshot.equity if self.snapshot is not None else 0.0

    def monitor_pass(self) -> None:
        self.snapshot = self.follower.broker.balances()
        if self.on_balance is not None:
            positions = self.store.positions(self.follower.account.broker, self.follower.account_id)
            self.on_balance(self.snapshot, len(positions))
        self.guard.ledger.settle_due(self.follower.account.broker, self.follower.account_id, self.follower.broker)
        self.last_report = self.guard.run_once()

    def strategy_pass(self) -> None:
        self.monitor_pass()
