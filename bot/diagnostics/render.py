"""Text and JSON for a diagnostics report: what every verify script prints. No secret can reach here:
reports carry only "set / not set" and the key's fingerprint.
"""

from __future__ import annotations

import json
from typing import Any

from bot.diagnostics.checks import AccountReport, Check, Result
from bot.diagnostics.report import DiagnosticsReport

_MARK = {Result.PASS: "PASS", Result.WARN: "WARN", Result.FAIL: "FAIL", Result.SKIP: "skip"}


def render_check(check: Check, indent: str = "  ") -> list[str]:
    lines = [f"{indent}[{_MARK[check.result]}] {check.name}: {check.reason}"]
    if check.fix and check.result in (Result.FAIL, Result.WARN):
        lines.append(f"{indent}       fix: {check.fix}")
    return lines


def render_account(account: AccountReport) -> list[str]:
    key = f", key {account.key_fingerprint}" if account.key_fingerprint else ""
    lines = [
        "",
        f"{account.label} ({account.role}, {account.display_name}) - {account.status.state}",
        f"  credentials: {account.credentials}{key}",
    ]
    for check in account.checks:
        lines.extend(render_check(check))
    if account.will_trade:
        lines.append(f"  => WILL TRADE: {account.status.reason}")
    elif not account.enabled:
        lines.append(f"  => OFF: {account.status.reason}")
    else:
        blocking = account.blocking
        first = blocking[0] if blocking else None
        reason = first.reason if first else account.status.reason
        fix = first.fix if first else account.status.fix
        lines.append(f"  => WILL NOT TRADE ({account.status.state}): {reason}")
        if fix:
            lines.append(f"     fix: {fix}")
    return lines


def verdict_line(report: DiagnosticsReport, scope: str = "NIJA") -> str:
    """One line a person can act on: what blocks trading, and the first thing to fix."""
    if report.ready:
        states = ", ".join(f"{a.label} {a.status.state}" for a in report.accounts if a.enabled)
        return f"VERDICT: {scope} is ready to trade ({states})"
    blockers: list[str] = []
    fixes: list[str] = []
    for check in report.bot_checks:
        if check.result is Result.FAIL:
            blockers.append(check.name)
            fixes.append(check.fix)
    deadlocked = {label for f in report.findings if f.kind == "deadlock" for label in f.accounts}
    for account in sorted(report.accounts, key=lambda a: a.role != "master"):
        if account.enabled and not account.will_trade:
            note = " (deadlock)" if account.label in deadlocked else ""
            blockers.append(f"{account.label} {account.status.state}{note}")
            first = account.blocking[0] if account.blocking else None
            fixes.append(first.fix if first else account.status.fix)
    for finding in report.findings:
        if finding.blocking and finding.kind != "deadlock":
            blockers.append(f"{finding.kind}: {', '.join(finding.accounts) or finding.broker}")
            fixes.append(finding.fix)
    if not blockers:
        return f"VERDICT: {scope} will NOT trade: no enabled account is configured"
    first_fix = next((f for f in fixes if f), "")
    return f"VERDICT: {scope} will NOT trade fully: {', '.join(blockers)}." + (
        f" First fix: {first_fix}" if first_fix else ""
    )


def render_text(report: DiagnosticsReport, scope: str = "NIJA") -> str:
    s = report.settings_summary
    lines = [
        f"{scope} diagnostics: LIVE_TRADING={str(s['live_trading']).lower()}, "
        f"COPY_TRADING_MODE={s['copy_trading_mode']}, COPY_OBSERVE_ONLY={str(s['copy_observe_only']).lower()}, "
        f"ENTRY_BLOCKING={str(s['entry_blocking']).lower()}",
        "",
        "bot",
    ]
    for check in report.bot_checks:
        lines.extend(render_check(check))
    for account in report.accounts:
        lines.extend(render_account(account))
    if report.findings:
        lines += ["", "findings"]
        for finding in report.findings:
            mark = "FAIL" if finding.blocking else "WARN"
            lines.append(f"  [{mark}] {finding.kind}: {finding.reason}")
            lines.append(f"         fix: {finding.fix}")
    lines += ["", verdict_line(report, scope)]
    return "\n".join(lines)


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)
