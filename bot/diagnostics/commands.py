"""The verify_*.py commands: parse arguments, run bot.diagnostics, print. Exit 0 ready, 1 blocked, 2 bad usage.

The scripts in scripts/ are one-line wrappers around these functions, so the logic lives once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.accounts.probe import BrokerFactory
from bot.clock import SystemClock
from bot.config.account_loader import load_accounts
from bot.config.accounts import AccountConfig, AccountRegistry
from bot.config.errors import ConfigError
from bot.config.settings import Settings, load_settings, read_environment
from bot.diagnostics.checks import Check, Result
from bot.diagnostics.copy_preview import preview_copies
from bot.diagnostics.independence import brokerage_views, isolation_summary, shared_keys
from bot.diagnostics.render import render_json, render_text, verdict_line
from bot.diagnostics.report import EXIT_BLOCKED, EXIT_USAGE, DiagnosticsReport, diagnose
from bot.logsetup import setup_logging
from bot.state.store import StateStore, StateStoreError


@dataclass
class Context:
    settings: Settings
    registry: AccountRegistry
    out: TextIO
    err: TextIO
    factory: BrokerFactory | None = None


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--env-file", type=Path, default=None,
                        help="the .env file to read (default: .env in the project's folder, or NIJA_HOME's)")
    parser.add_argument(
        "--running", action="store_true",
        help="also read the running bot's state store: master heartbeats (MASTER_OFFLINE) and open positions",
    )
    parser.add_argument("--verbose", action="store_true", help="log each exchange call's outcome to stderr")
    return parser


def _context(args: argparse.Namespace, out: TextIO | None, err: TextIO | None,
             factory: BrokerFactory | None, environ: Mapping[str, str] | None) -> Context | int:
    out, err = out or sys.stdout, err or sys.stderr
    environ = read_environment("home" if args.env_file is None else args.env_file, environ)
    try:
        settings = load_settings(environ, env_file=None)
        registry = load_accounts(settings, environ)
    except ConfigError as error:
        print(f"configuration error (trading is blocked until it is fixed): {error}", file=err)
        return EXIT_BLOCKED
    setup_logging("INFO" if args.verbose else "WARNING", registry.secrets(), stream=err)
    return Context(settings, registry, out, err, factory)


def _run(ctx: Context, args: argparse.Namespace, *, brokers: Sequence[str] | None = None,
         select: Callable[[AccountConfig], bool] | None = None) -> DiagnosticsReport | int:
    store: StateStore | None = None
    now: float | None = None
    if args.running:
        from bot.trading.commands import status_path  # the same store `python bot.py status` reads

        path = status_path(ctx.settings, paper=False)
        if not path.is_file():
            print(f"--running: no state store at {path}: start the bot first, or drop --running", file=ctx.err)
            return EXIT_USAGE
        try:
            store = StateStore(path, read_only=True)
        except StateStoreError as error:
            print(f"--running: {error}", file=ctx.err)
            return EXIT_USAGE
        now = SystemClock().now()
    try:
        return diagnose(ctx.settings, ctx.registry, factory=ctx.factory, brokers=brokers, select=select,
                        store=store, heartbeat_now=now)
    finally:
        if store is not None:
            store.close()


def _diagnose(args: argparse.Namespace, out: TextIO | None, err: TextIO | None, factory: BrokerFactory | None,
              environ: Mapping[str, str] | None, *, brokers: Sequence[str] | None = None,
              ) -> tuple[Context, DiagnosticsReport] | int:
    """Settings, accounts and the diagnostics report for a command; an int is the exit code to stop with."""
    ctx = _context(args, out, err, factory, environ)
    if isinstance(ctx, int):
        return ctx
    report = _run(ctx, args, brokers=brokers)
    if isinstance(report, int):
        return report
    return ctx, report


def _emit(ctx: Context, args: argparse.Namespace, report: DiagnosticsReport, scope: str = "NIJA", *,
          extra: Mapping[str, object] | None = None, lines: Sequence[str] = ()) -> int:
    """Print the report (JSON with the command's extra keys, or text followed by its lines); the exit code."""
    if args.json:
        print(render_json({**report.to_dict(), **(extra or {}), "verdict": verdict_line(report, scope)}), file=ctx.out)
    else:
        print("\n".join([render_text(report, scope), *lines]), file=ctx.out)
    return report.exit_code


def verify_kraken(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None,
                  factory: BrokerFactory | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Everything about Kraken: every Kraken account's checks, deadlocks, and a one-line verdict."""
    parser = _parser("verify_kraken_trading_enabled.py", "Will NIJA trade on Kraken? If not, why and how to fix it.")
    args = parser.parse_args(list(argv))
    found = _diagnose(args, out, err, factory, environ, brokers=["kraken"])
    if isinstance(found, int):
        return found
    ctx, report = found
    if not report.accounts:
        report.bot_checks.append(_no_kraken())
    return _emit(ctx, args, report, "Kraken")


def _no_kraken() -> Check:
    return Check("kraken accounts", Result.FAIL, "no Kraken account is configured",
                 "set KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET (Kraken > Settings > API)")


def verify_user(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None,
                factory: BrokerFactory | None = None, environ: Mapping[str, str] | None = None) -> int:
    """One account end to end: --user ID (a user id, or 'master' with --broker)."""
    parser = _parser("verify_user_trading.py", "Will this one account trade? If not, why and how to fix it.")
    parser.add_argument("--user", required=True, help="the user id (file name or user_id), or 'master'")
    parser.add_argument("--broker", choices=("kraken", "coinbase", "alpaca"), help="when the id is on several")
    args = parser.parse_args(list(argv))
    ctx = _context(args, out, err, factory, environ)
    if isinstance(ctx, int):
        return ctx
    wanted = args.user.strip().lower()
    matches = [a for a in ctx.registry if a.account_id.lower() == wanted
               and (args.broker is None or a.broker == args.broker)]
    if not matches:
        known = ", ".join(a.label for a in ctx.registry) or "none"
        print(f"--user {args.user}: no such account is configured (known: {known})", file=ctx.err)
        return EXIT_USAGE
    if len(matches) > 1:
        print(f"--user {args.user} is on {', '.join(a.broker for a in matches)}: add --broker", file=ctx.err)
        return EXIT_USAGE
    target = matches[0]
    report = _run(ctx, args, brokers=[target.broker], select=lambda a: a.label == target.label)
    if isinstance(report, int):
        return report
    return _emit(ctx, args, report, target.label)


def verify_copy(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None,
                factory: BrokerFactory | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Copy mode, masters, followers, and what each follower would place for a sample master trade."""
    parser = _parser("verify_copy_trading.py", "Who copies whom, and the expected follower sizes for a sample trade.")
    parser.add_argument("--symbol", default="BTC-USD", help="sample market (default BTC-USD)")
    parser.add_argument("--notional", type=float, help="sample master entry in USD (default: its largest entry)")
    parser.add_argument("--exit-fraction", type=float, default=0.5, help="sample master sale, fraction (0.5)")
    args = parser.parse_args(list(argv))
    if args.notional is not None and args.notional <= 0:
        parser.error("--notional: expected a USD amount above 0")
    if not 0 < args.exit_fraction <= 1:
        parser.error("--exit-fraction: expected a fraction above 0 and at most 1")
    found = _diagnose(args, out, err, factory, environ)
    if isinstance(found, int):
        return found
    ctx, report = found
    previews = preview_copies(report, ctx.registry, ctx.settings, symbol=args.symbol.upper(),
                              master_notional=args.notional, exit_fraction=args.exit_fraction)
    lines = ["", "copy trading preview"]
    for p in previews:
        notional = "unknown" if p.master_notional is None else f"{p.master_notional:,.2f} USD"
        lines.append(f"  {p.master_label} ({p.master_state}): sample entry {p.symbol} {notional}"
                     + (f" - {p.note}" if p.note else ""))
        for f in p.followers:
            lines.append(f"    {f.label} ({f.state}): {f.outcome} {f.notional:,.2f} USD - {f.why}")
            if f.outcome == "copy":
                lines.append(f"      exit: {f.exit_fraction_example}")
    return _emit(ctx, args, report, extra={"copy": [p.to_dict() for p in previews]}, lines=lines)


def verify_independence(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None,
                        factory: BrokerFactory | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Each brokerage has its own master, threads and users; a fault in one leaves the others alone."""
    parser = _parser("verify_master_broker_independence.py",
                     "Check that each brokerage runs on its own: master, threads, users, failures.")
    args = parser.parse_args(list(argv))
    found = _diagnose(args, out, err, factory, environ)
    if isinstance(found, int):
        return found
    ctx, report = found
    report.findings.extend(shared_keys(ctx.registry))
    views = brokerage_views(report, ctx.registry)
    summary = isolation_summary(views)
    lines = ["", "brokerages"]
    for v in views:
        lines.append(f"  {v.broker}: master {v.master or '(none)'} {v.master_state}; "
                     f"threads {', '.join(v.threads) or 'none'}; users {', '.join(v.users) or 'none'}; "
                     f"{'ready' if v.ready else 'BLOCKED'}")
    lines.extend(f"  {line}" for line in summary)
    return _emit(ctx, args, report, extra={"brokerages": [v.to_dict() for v in views], "isolation": summary},
                 lines=lines)
