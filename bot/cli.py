"""Command line: `python bot.py [COMMAND] ...` (`run` is the default).

Adding a command is one `Command(...)` line in COMMANDS. A command's module is imported only when that
command is chosen, so `--help`, `--version` and a mistyped command answer without loading pandas, the
exchange SDKs or the settings models (`python scripts/bench.py cli` measures it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot import __version__

PROG = "python bot.py"
DEFAULT_COMMAND = "run"
TOP_LEVEL_OPTIONS = ("-h", "--help", "--version")


@dataclass(frozen=True)
class Command:
    """One sub-command. `arguments` and `handler` are "module:function" paths, imported only when chosen.

    arguments(parser) adds the command's options; handler(args, settings) runs it and returns the exit
    code (handler(args) when needs_settings is False). stops_on_signal: SIGINT/SIGTERM become a stop
    request from the first moment (before the command's imports) instead of an interrupt.
    """

    name: str
    help: str
    handler: str
    arguments: str
    needs_settings: bool = True
    stops_on_signal: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("run", "trade (the default command; paper mode unless live credentials AND LIVE_TRADING=true)",
            "bot.trading.commands:run", "bot.trading.commands:add_run_arguments", stops_on_signal=True),
    Command("status", "every account's state, reason, fix, balance and health from the store",
            "bot.trading.commands:status", "bot.trading.commands:add_status_arguments"),
    Command("trades", "closed trades with realised P&L per account, from the store",
            "bot.trading.commands:trades", "bot.trading.commands:add_trades_arguments"),
    Command("web", "serve the dashboard and API read-only from a store (no bot needed)",
            "bot.web.command:run", "bot.web.arguments:add_arguments", stops_on_signal=True),
    Command("backtest", "run APEX (and copy-trading followers) over candle files",
            "bot.backtest.command:run", "bot.backtest.command:add_arguments"),
    Command("optimize", "walk-forward tuning of APEX's settings with optuna over candle files",
            "bot.backtest.optimize:run", "bot.backtest.optimize:add_arguments"),
    Command("download-data", "download candles through a brokerage's SDK for backtests",
            "bot.backtest.download:run", "bot.backtest.download:add_arguments"),
)


def _load(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def find_command(name: str) -> Command | None:
    return next((c for c in COMMANDS if c.name == name), None)


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; only `chosen` gets its options (its module is imported)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "NIJA trading bot. With no live credentials it runs in paper mode against the built-in "
            "exchange simulator. Live orders need credentials AND LIVE_TRADING=true."
        ),
        epilog=f"With no command, or when the first argument is an option, '{DEFAULT_COMMAND}' is meant. "
               f"'{PROG} COMMAND --help' shows a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"nija {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        command_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        if command.name == chosen:
            _load(command.arguments)(command_parser)
    return parser


def with_default_command(argv: Sequence[str]) -> list[str]:
    """Insert `run` only when there is no argument or the first one is an option meant for `run`.

    A mistyped command (`stauts`) is left alone, so argparse answers with its own "invalid choice".
    """
    args = list(argv)
    if not args or (args[0].startswith("-") and args[0] not in TOP_LEVEL_OPTIONS):
        return [DEFAULT_COMMAND, *args]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args_list = with_default_command(sys.argv[1:] if argv is None else argv)
    chosen = find_command(args_list[0]) if args_list else None
    if chosen is not None and chosen.stops_on_signal:
        from bot.trading import stop_signals  # standard library only: nothing heavy is imported yet

        stop_signals.install_stop_signals()  # a Ctrl-C from here on (imports, start-up) stops the run: exit 0
        try:
            return _main(args_list, chosen)
        finally:
            stop_signals.release_stop_signals()
    return _main(args_list, chosen)


def _main(args_list: list[str], chosen: Command | None) -> int:
    args = build_parser(chosen.name if chosen else None).parse_args(args_list)
    command = find_command(args.command)
    if command is None:  # `python bot.py` with only top-level options never gets here (argparse exits)
        build_parser().print_help()
        return 2
    handler = _load(command.handler)
    if not command.needs_settings:
        return int(handler(args))
    from bot.config.errors import ConfigError
    from bot.config.settings import load_settings
    from bot.state.errors import StateStoreError  # not bot.state.store: a backtest needs no SQLite

    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"nija: configuration error: {error}", file=sys.stderr)
        return 2
    try:
        return int(handler(args, settings))
    except StateStoreError as error:
        print(f"nija: state store error: {error}", file=sys.stderr)
        return 2
