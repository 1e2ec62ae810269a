"""Each brokerage stands alone: its own master, its own threads, its own users, its own failures.

Checked from the configuration (a key shared by two accounts would share a nonce and an
exchange account, so "separate" accounts would not be) and from a diagnostics run in which
each brokerage was probed on its own thread (one brokerage's failure leaves the others' verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.accounts.advice import exchange_name
from bot.config.accounts import AccountRegistry
from bot.diagnostics.deadlock import Finding
from bot.diagnostics.report import DiagnosticsReport


@dataclass(frozen=True)
class BrokerageView:
    broker: str
    master: str  # label, or "" when none is configured
    master_state: str
    threads: list[str] = field(default_factory=list)  # thread name stems of accounts that get a worker
    users: list[str] = field(default_factory=list)
    ready: bool = False
    blocked_by: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "master": self.master,
            "master_state": self.master_state,
            "threads": self.threads,
            "users": self.users,
            "ready": self.ready,
            "blocked_by": self.blocked_by,
        }


def shared_keys(registry: AccountRegistry) -> list[Finding]:
    """Accounts configured with the same API key: never independent (one exchange account, one nonce)."""
    owners: dict[str, list[str]] = {}
    for account in registry:
        if account.credentials is not None and account.credentials.api_key:
            owners.setdefault(account.credentials.api_key, []).append(account.label)
    findings = []
    for labels in owners.values():
        if len(labels) > 1:
            findings.append(Finding(
                "isolation", "",
                f"{' and '.join(labels)} use the same API key: they are one exchange account, share one nonce "
                "sequence and would trade each other's money",
                "create a separate API key (on the right exchange account) for each of them",
                tuple(labels),
            ))
    return findings


def brokerage_views(report: DiagnosticsReport, registry: AccountRegistry) -> list[BrokerageView]:
    views = []
    errored = {f.broker for f in report.findings if f.kind == "error"}
    for broker in registry.brokers():
        accounts = [a for a in report.accounts if a.broker == broker]
        if not accounts and broker not in errored:
            continue
        master = registry.master(broker)
        master_report = report.account(broker, "master")
        blocked = [f"{a.label} {a.status.state}" for a in accounts if a.enabled and not a.will_trade]
        blocked += [f"{f.kind} ({', '.join(f.accounts)})" for f in report.findings if f.broker == broker and f.blocking]
        views.append(BrokerageView(
            broker=broker,
            master=master.label if master else "",
            master_state=str(master_report.status.state) if master_report else "NOT CHECKED",
            threads=[a.label for a in accounts if a.status.gets_thread],
            users=[a.label for a in accounts if a.role != "master"],
            ready=not blocked and bool(accounts),
            blocked_by=blocked,
        ))
    return views


def isolation_summary(views: list[BrokerageView]) -> list[str]:
    """Plain lines saying that a blocked brokerage leaves the others alone."""
    lines = []
    blocked = [v for v in views if not v.ready]
    fine = [v for v in views if v.ready]
    for view in blocked:
        what = f"{exchange_name(view.broker)} is blocked ({'; '.join(view.blocked_by)}); checked on its own thread"
        others = ", ".join(exchange_name(v.broker) for v in fine)
        lines.append(f"{what}, it does not affect {others}" if others else what)
    return lines
