"""Command line: `python bot.py [run|status|backtest] ...` (run is the default)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.config.errors import ConfigError
from bot.config.settings import Settings, load_settings
from bot.state.store import StateStoreError

COMMANDS = ("run", "status", "trades", "web", "backtest")


def build_parser() -> argparse.ArgumentParser:
    # Imported here so `--help` and a bad setting answer fast and each command loads only its layer.
    from bot.backtest import command as backtest_command
    from bot.trading import commands as trading_commands
    from bot.web import arguments as web_arguments

    parser = argparse.ArgumentParser(
        prog="python bot.py",
        description=(
            "NIJA trading bot. With no live credentials it runs in paper mode against the built-in "
            "exchange simulator. Live orders need credentials AND LIVE_TRADING=true."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="{run,status,trades,web,backtest}")
    run = sub.add_parser("run", help="trade (the default command; paper mode without live credentials)")
    trading_commands.add_run_arguments(run)
    status = sub.add_parser("status", help="every account's state, reason, fix, balance and health from the store")
    trading_commands.add_status_arguments(status)
    trades = sub.add_parser("trades", help="closed trades with realised P&L per account, from the store")
    trading_commands.add_trades_arguments(trades)
    web = sub.add_parser("web", help="serve the dashboard and API read-only from a store (no bot needed)")
    web_arguments.add_arguments(web)
    backtest = sub.add_parser("backtest", help="run APEX (and copy-trading followers) over candle files")
    backtest_command.add_arguments(backtest)
    return parser


def _with_default_command(argv: Sequence[str]) -> list[str]:
    args = list(argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help")):
        return ["run", *args]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_with_default_command(sys.argv[1:] if argv is None else argv))
    try:
        settings: Settings = load_settings()
    except ConfigError as error:
        print(f"nija: configuration error: {error}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args, settings)
    except StateStoreError as error:
        print(f"nija: state store error: {error}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "backtest":
        from bot.backtest import command as backtest_command

        return backtest_command.run(args, settings)
    from bot.trading import commands as trading_commands

    if args.command == "status":
        return trading_commands.status(args, settings)
    if args.command == "trades":
        return trading_commands.trades(args, settings)
    if args.command == "web":
        from bot.web import command as web_command

        try:
            store = args.store or trading_commands.status_path(settings, args.paper)
        except ConfigError as error:
            print(f"nija: configuration error: {error}", file=sys.stderr)
            return 2
        return web_command.serve(args, settings, store)
    return trading_commands.run(args, settings)
