"""Run the diagnostics: probe every account (each brokerage on its own thread), classify, check, find deadlocks.

This is the one entry point the verify_*.py scripts call; they only parse arguments and print.
Masters are probed before their users because a follower's state depends on its master's. Each
brokerage runs apart from the others, so a brokerage that hangs or breaks leaves the others'
verdicts intact (the same isolation the trader promises).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.accounts.advice import exchange_name
from bot.accounts.probe import BrokerFactory, ProbeResult, connect_and_probe
from bot.accounts.states import AccountStatus, classify_account, master_heartbeat_problem
from bot.clock import Clock, SystemClock
from bot.config.accounts import AccountConfig, AccountRegistry
from bot.config.settings import Settings
from bot.diagnostics.checks import AccountReport, Check, Result, account_checks
from bot.diagnostics.deadlock import Finding, find_deadlocks
from bot.state.store import StateStore

log = logging.getLogger(__name__)

#: exit codes of every verify script
EXIT_READY, EXIT_BLOCKED, EXIT_USAGE = 0, 1, 2


@dataclass
class DiagnosticsReport:
    """The answer to "will it trade, and if not, why and what fixes it" for a set of accounts."""

    settings_summary: dict[str, Any]
    bot_checks: list[Check] = field(default_factory=list)
    accounts: list[AccountReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    probes: dict[str, ProbeResult] = field(default_factory=dict)  # by account label; for previews, never printed

    @property
    def ready(self) -> bool:
        """True when nothing blocks trading: no failing bot check, no blocking finding, every enabled account trades."""
        if any(c.result is Result.FAIL for c in self.bot_checks):
            return False
        if any(f.blocking for f in self.findings):
            return False
        enabled = [a for a in self.accounts if a.enabled]
        return bool(enabled) and all(a.will_trade for a in enabled)

    @property
    def exit_code(self) -> int:
        return EXIT_READY if self.ready else EXIT_BLOCKED

    def account(self, broker: str, account_id: str) -> AccountReport | None:
        return next((a for a in self.accounts if a.broker == broker and a.account_id == account_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "settings": self.settings_summary,
            "bot_checks": [c.to_dict() for c in self.bot_checks],
            "accounts": [a.to_dict() for a in self.accounts],
            "findings": [f.to_dict() for f in self.findings],
        }


def settings_summary(settings: Settings) -> dict[str, Any]:
    general = settings.general
    return {
        "live_trading": general.live_trading,
        "copy_trading_mode": str(general.copy_trading_mode),
        "copy_observe_only": general.copy_observe_only,
        "entry_blocking": general.entry_blocking,
        "max_user_risk": general.max_user_risk,
        "minimum_funded_balance": general.minimum_funded_balance,
        "max_concurrent_positions": general.max_concurrent_positions,
        "master_offline_seconds": settings.copy_trading.master_offline_seconds,
    }


def bot_checks(settings: Settings, registry: AccountRegistry, accounts: Sequence[AccountConfig]) -> list[Check]:
    """Checks of the whole bot rather than one account (pure)."""
    general = settings.general
    checks: list[Check] = []
    if not accounts:
        checks.append(Check(
            "accounts", Result.FAIL,
            "no account is configured here, so `python bot.py` runs paper mode on the built-in simulator",
            "set <BROKER>_MASTER_API_KEY and <BROKER>_MASTER_API_SECRET (e.g. KRAKEN_MASTER_API_KEY), "
            f"and add users as JSON files in {general.users_dir}",
        ))
    for problem in registry.problems:
        checks.append(Check("account files", Result.FAIL, problem, "correct the file named above; the other "
                            "accounts load without it"))
    with_keys = [a for a in accounts if a.credentials is not None and a.enabled]
    if with_keys and not general.live_trading:
        checks.append(Check(
            "live trading", Result.FAIL,
            "LIVE_TRADING is not true: `python bot.py` runs paper mode on the built-in simulator and sends no order "
            "to any exchange",
            "set LIVE_TRADING=true to trade these accounts for real",
        ))
    elif with_keys:
        checks.append(Check("live trading", Result.PASS, "LIVE_TRADING=true: orders go to the exchanges"))
    mode = f"COPY_TRADING_MODE={general.copy_trading_mode}"
    if general.copies_masters and general.copy_observe_only:
        checks.append(Check(
            "copy trading", Result.WARN,
            f"{mode} with COPY_OBSERVE_ONLY=true: master trades are logged with sizes, nothing is copied",
            "set COPY_OBSERVE_ONLY=false to copy for real",
        ))
    else:
        checks.append(Check("copy trading", Result.PASS, mode))
    return checks


def _store_facts(
    store: StateStore | None, account: AccountConfig, settings: Settings, now: float | None
) -> tuple[int | None, str | None]:
    """(open positions, why the master counts as offline) from a running bot's state store."""
    if store is None:
        return None, None
    positions = len(store.positions(account.broker, account.account_id))
    offline = None
    if now is not None and not account.is_master:
        beat = store.master_heartbeat(account.broker)
        offline = master_heartbeat_problem(beat.last_seen if beat else None, now, settings)
    return positions, offline


def _brokerage(
    broker: str,
    accounts: Sequence[AccountConfig],
    registry: AccountRegistry,
    settings: Settings,
    factory: BrokerFactory,
    clock: Clock,
    state_dir: Path,
    store: StateStore | None,
    heartbeat_now: float | None,
) -> tuple[list[AccountReport], dict[str, ProbeResult]]:
    """One brokerage: its master first (its status decides its followers'), then its users."""
    master = registry.master(broker)
    wanted = {a.label for a in accounts}
    ordered = ([master] if master is not None else []) + registry.users(broker)
    reports: list[AccountReport] = []
    probes: dict[str, ProbeResult] = {}
    master_status: AccountStatus | None = None
    for account in ordered:
        needs_master = master is not None and account is master and any(
            not a.is_master for a in accounts
        )
        if account.label not in wanted and not needs_master:
            continue
        built, probe = connect_and_probe(account, settings, clock, state_dir, factory)
        try:
            positions, offline = _store_facts(store, account, settings, heartbeat_now)
            status = classify_account(account, probe, registry, settings, master_status,
                                      master_offline_reason=offline)
            if account.is_master:
                master_status = status
            probes[account.label] = probe
            if account.label in wanted:
                reports.append(account_checks(
                    account, probe, status, registry, settings,
                    master_status=master_status, master_offline_reason=offline, open_positions=positions,
                ))
        finally:
            if built is not None:
                built.close()
    return reports, probes


def default_factory() -> BrokerFactory:
    from bot.brokers.factory import make_broker  # the adapters load their SDKs; only when diagnostics run

    return make_broker


def diagnose(
    settings: Settings,
    registry: AccountRegistry,
    *,
    factory: BrokerFactory | None = None,
    clock: Clock | None = None,
    state_dir: Path | None = None,
    brokers: Iterable[str] | None = None,
    select: Callable[[AccountConfig], bool] | None = None,
    store: StateStore | None = None,
    heartbeat_now: float | None = None,
) -> DiagnosticsReport:
    """Check every selected account (all by default) and return the report; never raises for one bad account.

    store: a running bot's state store, for open positions and (with heartbeat_now) master heartbeats.
    Each brokerage is probed on its own thread; one that fails unexpectedly becomes an "error" finding.
    """
    factory = factory or default_factory()
    clock = clock or SystemClock()
    state_dir = Path(settings.general.state_dir) if state_dir is None else state_dir
    wanted_brokers = set(brokers) if brokers is not None else set(registry.brokers())
    selected = [a for a in registry if a.broker in wanted_brokers and (select is None or select(a))]
    report = DiagnosticsReport(settings_summary(settings), bot_checks(settings, registry, selected))
    by_broker = {b: [a for a in selected if a.broker == b] for b in registry.brokers() if b in wanted_brokers}
    by_broker = {b: accounts for b, accounts in by_broker.items() if accounts}
    if not by_broker:
        return report
    with ThreadPoolExecutor(max_workers=len(by_broker), thread_name_prefix="diagnostics") as pool:
        futures = {
            broker: pool.submit(_brokerage, broker, accounts, registry, settings, factory, clock, state_dir,
                                store, heartbeat_now)
            for broker, accounts in by_broker.items()
        }
        for broker, future in futures.items():
            try:
                reports, probes = future.result()
            except Exception as error:  # one brokerage's bug must not hide the others' answers
                log.error("diagnostics of %s failed:\n%s", broker, "".join(traceback.format_exception(error)))
                report.findings.append(Finding(
                    "error", broker,
                    f"checking {exchange_name(broker)} failed unexpectedly: {type(error).__name__}: {error}",
                    "see the log for the traceback and report it",
                    tuple(a.label for a in by_broker[broker]),
                ))
                continue
            report.accounts.extend(reports)
            report.probes.update(probes)
    report.findings.extend(find_deadlocks(report.accounts, settings))
    return report
