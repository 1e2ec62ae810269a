"""Deadlock detection: followers standing down from the strategy while nobody will trade for them.

The old bot's worst silent failure: an observe-only copy engine (or an unfunded master) while
every user thread stood down, so nothing traded and nothing said so. Here it is a finding of
its own, per brokerage, naming every stuck follower, the cause and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.accounts.advice import exchange_name
from bot.accounts.states import AccountState
from bot.config.settings import Settings
from bot.diagnostics.checks import AccountReport


@dataclass(frozen=True)
class Finding:
    kind: str  # "deadlock" | "config" | "isolation" | "error"
    broker: str  # "" for the whole bot
    reason: str
    fix: str
    accounts: tuple[str, ...] = ()
    blocking: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "broker": self.broker,
            "reason": self.reason,
            "fix": self.fix,
            "accounts": list(self.accounts),
            "blocking": self.blocking,
        }


_STUCK = (AccountState.STANDING_DOWN, AccountState.MASTER_OFFLINE)


def find_deadlocks(reports: Sequence[AccountReport], settings: Settings) -> list[Finding]:
    """One finding per brokerage whose followers wait for a master that will not trade for them (pure)."""
    findings: list[Finding] = []
    brokers = list(dict.fromkeys(r.broker for r in reports))
    for broker in brokers:
        stuck = [
            r for r in reports
            if r.broker == broker and r.follower and r.status.state in _STUCK and r.copy_problem is not None
        ]
        if not stuck:
            continue
        cause = stuck[0].copy_problem
        assert cause is not None
        labels = tuple(r.label for r in stuck)
        if settings.general.copy_observe_only:
            why = "COPY_OBSERVE_ONLY=true, so the copy engine places nothing for them"
        else:
            # "it follows kraken:master, which is UNFUNDED: ..." -> "kraken:master is UNFUNDED: ..."
            why = cause.reason.removeprefix("it follows ").replace(", which is ", " is ", 1)
        findings.append(Finding(
            kind="deadlock",
            broker=broker,
            reason=(
                f"DEADLOCK on {exchange_name(broker)}: {len(stuck)} follower(s) ({', '.join(labels)}) stand down "
                f"from the strategy to copy the master, and nobody will trade for them: {why}"
            ),
            fix=cause.fix,
            accounts=labels,
        ))
    return findings
