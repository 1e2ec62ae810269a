"""`python bot.py [run]` and `python bot.py status`: the trader's two commands.

run: live trading only with credentials AND LIVE_TRADING=true; anything else is paper mode on the
built-in simulator (live keys are then never used, so no order can reach a real exchange).
status: every account's state, reason, fix, balance, positions and health, read from the store.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from bot.clock import SystemClock
from bot.config.accounts import AccountRegistry
from bot.config.errors import ConfigError
from bot.config.paths import env_file as home_env_file
from bot.config.settings import Settings, override, read_environment
from bot.console.arguments import duration_seconds
from bot.logsetup import add_log_file, setup_logging
from bot.state.open import store_path
from bot.state.store import DEFAULT_FILE_NAME, StateStore
from bot.trading.modes import PAPER_SUBDIR, choose_mode, paper_state_dir, parse_brokers

log = logging.getLogger(__name__)


# ---- run --------------------------------------------------------------------------------------------
def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brokers", metavar="LIST", default=None,
                        help="paper mode: brokerages to simulate, comma-separated: kraken,coinbase,alpaca "
                             "(default kraken); each gets a demo master and demo followers")
    parser.add_argument("--data", metavar="DIR", type=Path, default=None,
                        help="paper mode: replay the candle files in DIR instead of the synthetic market")
    parser.add_argument("--speed", metavar="X", type=float, default=None,
                        help="paper mode: simulated seconds per real second (default SIM_SPEED)")
    parser.add_argument("--seed", metavar="N", type=int, default=None,
                        help="paper mode: seed of the synthetic market (default SIM_SEED)")
    parser.add_argument("--duration", metavar="SECONDS", type=duration_seconds, default=None,
                        help="stop cleanly after SECONDS of real time (default: run until Ctrl-C)")


def run(args: argparse.Namespace, settings: Settings, *, out: TextIO | None = None,
        stop: threading.Event | None = None) -> int:
    """Trade until Ctrl-C / SIGTERM / --duration; print the start-up table and the final summary."""
    from bot.config.account_loader import load_accounts  # cryptography: only the commands that load accounts

    out = out or sys.stdout
    environ = read_environment()
    registry = load_accounts(settings, environ)
    general = settings.general
    handlers = [setup_logging(general.log_level, registry.secrets())]
    try:
        if general.log_file is not None:
            try:
                handlers.append(add_log_file(general.log_file, general.log_file_max_bytes, general.log_file_backups))
            except OSError as error:
                print(f"nija: LOG_FILE={general.log_file}: cannot be written ({error.strerror})", file=sys.stderr)
                return 2
        return _run(args, settings, registry, out, stop)
    finally:
        # The handlers belong to this run (a caller's stream may close after it).
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close() if handler is not handlers[0] else None


def _with_options(args: argparse.Namespace, settings: Settings) -> Settings:
    """--speed and --seed checked exactly as SIM_SPEED and SIM_SEED are; ConfigError names the flag."""
    if args.speed is not None:
        settings = override(settings, "paper", "sim_speed", args.speed, "--speed")
    if args.seed is not None:
        settings = override(settings, "paper", "sim_seed", args.seed, "--seed")
    return settings


def source_lines(settings: Settings, live: bool) -> list[str]:
    """Which files this start-up read and where it writes, so nobody wonders which .env or folder counts."""
    env_file = home_env_file()
    users_dir = settings.general.users_dir
    user_files = sorted(p.name for p in users_dir.glob("*.json")) if users_dir.is_dir() else []
    lines = [
        f"settings: {env_file}" if env_file.is_file() else f"settings: no {env_file}; defaults and the environment",
        f"user accounts: {users_dir} ({len(user_files)} file{'s' if len(user_files) != 1 else ''}"
        f"{': ' + ', '.join(user_files) if user_files else ''})" if users_dir.is_dir()
        else f"user accounts: no folder {users_dir}",
        f"state: {store_path(settings) if live else paper_state_dir(settings)}",
    ]
    if settings.general.log_file is not None:
        lines.append(f"log file: {settings.general.log_file}")
    return lines


def _run(args: argparse.Namespace, settings: Settings, registry: AccountRegistry, out: TextIO,
         stop: threading.Event | None) -> int:
    try:
        settings = _with_options(args, settings)
        brokers = parse_brokers(args.brokers)
        mode = choose_mode(settings, registry)
        sources = source_lines(settings, mode.live)
    except (ConfigError, ValueError) as error:
        print(f"nija: {error}", file=sys.stderr)
        return 2
    if mode.refusals:
        for line in mode.refusals:
            print(f"nija: {line}", file=sys.stderr)
        return 2
    for line in sources:
        print(line, file=out)
    if mode.live:
        return _run_live(args, settings, registry, out, stop)
    for line in mode.banner:
        print(line, file=out)
    return _run_paper(args, settings, registry, brokers, out, stop)


def _run_paper(args: argparse.Namespace, settings: Settings, registry: AccountRegistry, brokers: tuple[str, ...],
               out: TextIO, stop: threading.Event | None) -> int:
    from bot.brokers.factory import make_broker
    from bot.trading.paper import start_paper
    from bot.trading.trader import Trader

    try:
        session = start_paper(settings, brokers, data_dir=args.data)
    except ValueError as error:
        print(f"nija: {error}", file=sys.stderr)
        return 2
    # Malformed user files are reported exactly as in live mode (the trader logs the registry's problems).
    session.registry.problems.extend(registry.problems)
    print(f"PAPER MODE: simulator on 127.0.0.1 for {', '.join(brokers)}; simulated time runs "
          f"{settings.paper.sim_speed:g}x real time; demo credentials live in memory only.", file=out)
    if args.data is None:
        print("Prices: a synthetic demo market built so APEX's set-ups come every few seconds; it shows the "
              "machinery, not what APEX earns (run `python bot.py backtest` on real candles for that).", file=out)
    path = fresh_paper_store(session.settings)
    store = StateStore(path, clock=session.clock)
    try:
        trader = Trader(session.settings, session.registry, session.clock, store, broker_factory=make_broker,
                        paper=True, out=out, seed=settings.paper.sim_seed)
        return _drive(trader, args.duration, out, stop)
    finally:
        store.close()
        session.close()


def fresh_paper_store(settings: Settings) -> Path:
    """The simulator starts empty every run (new demo keys too), so paper state does: the paper directory
    (the store and the demo keys' nonce files) is emptied; the live store is never touched."""
    directory = Path(settings.general.state_dir)
    if directory.name != PAPER_SUBDIR:
        raise ValueError(f"{directory} is not a paper-mode state directory; refusing to empty it")
    if directory.is_dir():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return directory / DEFAULT_FILE_NAME


def _run_live(args: argparse.Namespace, settings: Settings, registry: AccountRegistry, out: TextIO,
              stop: threading.Event | None) -> int:
    from bot.brokers.factory import make_broker
    from bot.trading.trader import Trader

    try:
        path = store_path(settings)
    except ConfigError as error:
        print(f"nija: configuration error: {error}", file=sys.stderr)
        return 2
    print("LIVE TRADING: LIVE_TRADING=true and credentials are set; orders go to the real exchanges.", file=out)
    clock = SystemClock()
    store = StateStore(path, clock=clock)
    try:
        trader = Trader(settings, registry, clock, store, broker_factory=make_broker, paper=False, out=out)
        return _drive(trader, args.duration, out, stop)
    finally:
        store.close()


def _drive(trader: Any, duration: float | None, out: TextIO, stop: threading.Event | None) -> int:
    """Start, supervise until a signal or the duration, then stop within the timeout and summarise."""
    stop = stop or threading.Event()
    previous = _install_signal_handlers(stop)
    timer = None
    if duration is not None:
        timer = threading.Timer(max(duration, 0.0), stop.set)
        timer.daemon = True
        timer.start()
    stuck: list[str] = []
    try:
        trader.start()
        trader.run_until_stopped(stop)
    finally:
        if timer is not None:
            timer.cancel()
        print("stopping: every thread ends within "
              f"{trader.settings.trader.shutdown_timeout_seconds:g} s ...", file=out, flush=True)
        stuck = trader.stop()
        trader.print_summary()
        trader.close_brokers()
        _restore_signal_handlers(previous)
    if stuck:
        print(f"threads still inside an exchange call at exit: {', '.join(stuck)}", file=out)
        return 1
    return 0


def _install_signal_handlers(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


# ---- status -------------------------------------------------------------------------------------------
def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--paper", action="store_true",
                        help="read the paper-mode store (the default when LIVE_TRADING is not true)")


def status_path(settings: Settings, paper: bool) -> Path:
    if paper or not settings.general.live_trading:
        return paper_state_dir(settings) / DEFAULT_FILE_NAME
    return store_path(settings)


def status_report(store: StateStore) -> dict[str, Any]:
    """Every account as the running (or last) bot stored it: state, reason, fix, money, positions, health."""
    health = {(h.broker, h.account_id): h for h in store.health_records()}
    accounts = []
    for state in store.account_states():
        positions = store.positions(state.broker, state.account_id)
        h = health.get((state.broker, state.account_id))
        accounts.append({
            "broker": state.broker, "account_id": state.account_id, "role": state.role, "state": state.state,
            "reason": state.reason, "fix": state.fix, "equity": round(state.equity, 2), "cash": round(state.cash, 2),
            "open_positions": len(positions),
            "positions": [{"symbol": p.symbol, "quantity": p.quantity, "entry_price": p.entry_price,
                           "stop_price": p.stop_price, "is_copy": p.is_copy} for p in positions],
            "health": None if h is None else {
                "status": str(h.status), "cycles": h.cycles, "successes": h.successes,
                "consecutive_errors": h.consecutive_errors, "last_error": h.last_error,
                "last_cycle_at": h.last_cycle_at,
            },
            "updated_at": state.updated_at,
        })
    return {"accounts": accounts}


def status(args: argparse.Namespace, settings: Settings, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        path = status_path(settings, getattr(args, "paper", False))
    except ConfigError as error:
        print(f"nija: configuration error: {error}", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"nija: no state store at {path}: start the bot first (python bot.py), or run the verify_*.py "
              "scripts to check accounts without a running bot", file=sys.stderr)
        return 1
    with StateStore(path, read_only=True) as store:
        report = status_report(store)
    report["store"] = str(path)
    if args.json:
        print(json.dumps(report, indent=2), file=out)
        return 0
    print(f"state store: {path}", file=out)
    header = f"{'account':<28} {'role':<6} {'state':<15} {'equity USD':>12} {'pos':>4} {'health':<9} {'err':>3}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for a in report["accounts"]:
        h = a["health"] or {}
        print(f"{a['broker'] + ':' + a['account_id']:<28} {a['role']:<6} {a['state']:<15} {a['equity']:>12,.2f} "
              f"{a['open_positions']:>4} {h.get('status', '-'):<9} {h.get('consecutive_errors', 0):>3}", file=out)
        print(f"    reason: {a['reason']}", file=out)
        if a["fix"]:
            print(f"    fix: {a['fix']}", file=out)
        for p in a["positions"]:
            print(f"    position {p['symbol']} {p['quantity']:g} @ {p['entry_price']:g}, stop {p['stop_price']:g}"
                  f"{' (copied)' if p['is_copy'] else ''}", file=out)
        if h.get("last_error"):
            print(f"    last error: {h['last_error']}", file=out)
    return 0
