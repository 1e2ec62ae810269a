"""`python bot.py [run]` and `python bot.py status`: the trader's two commands.

run: live trading only with credentials AND LIVE_TRADING=true (docs/rules.md §1). With the switch, a credential
that is set but unusable stops the start (one line per variable, exit 2); without it, or with the switch and no
credential at all, it is paper mode on the built-in simulator, said loudly (live keys are then never used, so no
order can reach a real exchange). One bot per state directory (bot/state/instance_lock.py); SIGINT/SIGTERM at
any moment stop it within SHUTDOWN_TIMEOUT_SECONDS with exit code 0 (bot/trading/stop_signals.py).
status: every account's state, reason, fix, balance, positions and health, read from the store.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.clock import SystemClock, parse_since
from bot.config.accounts import AccountRegistry
from bot.config.errors import ConfigError
from bot.config.paths import env_file as home_env_file
from bot.config.settings import Settings, override, read_environment
from bot.console.arguments import duration_seconds
from bot.console.progress import progress_bar
from bot.logsetup import add_log_file, setup_logging
from bot.state.instance_lock import LOCK_FILE_NAME, AlreadyRunning, InstanceLock, lock_status
from bot.state.open import store_path
from bot.state.operator import OperatorStore, process_alive, run_status
from bot.state.readmodel import PositionView, ReadModel, ReadModelError
from bot.state.store import DEFAULT_FILE_NAME, StateStore
from bot.trading.modes import choose_mode, paper_state_dir, parse_brokers
from bot.trading.stop_signals import install_stop_signals, installed_stop_signals, release_stop_signals

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
                        help="stop cleanly SECONDS of real time after start-up (default: run until Ctrl-C)")
    parser.add_argument("--fresh", action="store_true",
                        help="paper mode: delete the paper results (store and simulator) and start over; "
                             "without it a paper run carries on where the last one stopped")


def run(args: argparse.Namespace, settings: Settings, *, out: TextIO | None = None,
        stop: threading.Event | None = None) -> int:
    """Trade until Ctrl-C / SIGTERM / --duration; print the start-up table and the final summary.

    The signals become `stop` from here (bot/cli.py installs them even earlier, before the heavy imports),
    so a Ctrl-C at any moment of start-up ends the run quietly with exit code 0. Whoever installs them
    releases them: bot/cli.py when it did, else this run.
    """
    owner = installed_stop_signals() is None
    signals = install_stop_signals()
    stop = stop or threading.Event()
    signals.forward_to(stop)
    try:
        return _run_with_accounts(args, settings, out or sys.stdout, stop)
    finally:
        if owner:
            release_stop_signals()


def _run_with_accounts(args: argparse.Namespace, settings: Settings, out: TextIO, stop: threading.Event) -> int:
    from bot.config.account_loader import load_accounts  # cryptography: only the commands that load accounts

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
        if stop.is_set():
            return _stopped_before_start(out)
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
        (f"user accounts: {users_dir} ({len(user_files)} file{'s' if len(user_files) != 1 else ''}: "
         f"{', '.join(user_files)})" if user_files else f"user accounts: none in {users_dir} (no *.json files)")
        if users_dir.is_dir() else f"user accounts: no folder {users_dir}",
        f"state: {store_path(settings) if live else paper_state_dir(settings)}",
    ]
    if settings.general.log_file is not None:
        lines.append(f"log file: {settings.general.log_file}")
    return lines


def _stopped_before_start(out: TextIO) -> int:
    print("stopped during start-up: no account was started, nothing was sent", file=out, flush=True)
    return 0


def _run(args: argparse.Namespace, settings: Settings, registry: AccountRegistry, out: TextIO,
         stop: threading.Event) -> int:
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


def _locked(state_dir: Path, mode: str) -> InstanceLock | None:
    """The state directory's single-instance lock, or None after saying who already holds it."""
    try:
        return InstanceLock(state_dir, mode).acquire()
    except AlreadyRunning as running:
        print(f"nija: {running}", file=sys.stderr)
        return None


def _run_paper(args: argparse.Namespace, settings: Settings, registry: AccountRegistry, brokers: tuple[str, ...],
               out: TextIO, stop: threading.Event) -> int:
    lock = _locked(paper_state_dir(settings), "paper")
    if lock is None:
        return 2
    with lock:
        return _run_paper_locked(args, settings, registry, brokers, out, stop)


def _run_paper_locked(args: argparse.Namespace, settings: Settings, registry: AccountRegistry,
                      brokers: tuple[str, ...], out: TextIO, stop: threading.Event) -> int:
    from bot.brokers.factory import make_broker
    from bot.sim.prices import candle_files
    from bot.trading.paper import SIM_STATE_FILE, paper_store_path, start_paper
    from bot.trading.trader import Trader

    try:
        files = len(candle_files(args.data)) if args.data is not None and args.data.is_dir() else 0
        with progress_bar(f"loading candle files from {args.data}", files) as loading:
            session = start_paper(settings, brokers, data_dir=args.data, fresh=args.fresh,
                                  on_file=lambda path: loading.advance(path.name))
    except ValueError as error:
        print(f"nija: {error}", file=sys.stderr)
        return 2
    # Malformed user files are reported exactly as in live mode (the trader logs the registry's problems).
    session.registry.problems.extend(registry.problems)
    print(f"PAPER MODE: simulator on 127.0.0.1 for {', '.join(brokers)}; simulated time runs "
          f"{settings.paper.sim_speed:g}x real time; demo keys open nothing but this simulator.", file=out)
    for line in _paper_market_lines(args, session, paper_state_dir(settings) / SIM_STATE_FILE):
        print(line, file=out)
    trader = None
    try:
        if stop.is_set():
            return _stopped_before_start(out)
        path = paper_store_path(settings)
        store = StateStore(path, clock=session.clock)
        controls = OperatorStore(path)
        try:
            trader = Trader(session.settings, session.registry, session.clock, store, broker_factory=make_broker,
                            paper=True, out=out, seed=settings.paper.sim_seed, stop_event=stop,
                            entry_gate=controls.entry_gate)
            cockpit = _cockpit(session.settings, path, trader, "paper", controls, out)
            if cockpit is None:
                return 2
            return _drive(trader, args.duration, out, stop, cockpit)
        finally:
            _close_store(store, trader, controls)
    finally:
        session.close()


def _close_store(store: StateStore, trader: Any, *also: OperatorStore) -> None:
    """Close the store (and the cockpit's connections to it) once every account thread has ended; a thread
    still inside an exchange call would otherwise write to a closed database (the process's exit closes it)."""
    if trader is not None and trader.threads_alive():
        log.error("the state store stays open for the threads still inside an exchange call; it closes at exit")
        return
    store.close()
    for other in also:
        other.close()


def _paper_market_lines(args: argparse.Namespace, session: Any, sim_file: Path) -> list[str]:
    """Where the paper exchange comes from: resumed (and what was ignored) or new, replay or demo market."""
    market = session.market
    lines = []
    if session.resumed:
        ignored = [flag for flag, value in (("--seed", args.seed), ("--data", args.data)) if value is not None]
        lines.append(f"Resuming paper results from {sim_file} (clock where it stopped); `python bot.py run --fresh` "
                     "starts over." + (f" ({', '.join(ignored)}: used by a fresh start only.)" if ignored else ""))
    if market.data_dir:
        lines.append(f"Prices: a replay of the candle files in {market.data_dir}.")
    else:
        lines.append(f"Prices: a synthetic demo market (seed {market.seed}) built so APEX's set-ups come every few "
                     "seconds; it shows the machinery, not what APEX earns (`python bot.py backtest` on real "
                     "candles says that).")
    return lines


def _run_live(args: argparse.Namespace, settings: Settings, registry: AccountRegistry, out: TextIO,
              stop: threading.Event) -> int:
    try:
        path = store_path(settings)
    except ConfigError as error:
        print(f"nija: configuration error: {error}", file=sys.stderr)
        return 2
    lock = _locked(Path(settings.general.state_dir), "live")
    if lock is None:
        return 2
    with lock:
        return _run_live_locked(args, settings, registry, out, stop, path)


def live_banner(settings: Settings, registry: AccountRegistry) -> list[str]:
    """Where orders really go, per brokerage: a host, or the simulator on this machine (never 'the real exchanges')."""
    from bot.trading.trader import order_destinations

    places = order_destinations(settings.exchanges, list(registry.accounts), live=True)
    lines = ["LIVE TRADING: LIVE_TRADING=true and credentials are set. Orders go to:"]
    lines += [f"  {broker}: {where}" for broker, where in places.items()]
    return lines


def _run_live_locked(args: argparse.Namespace, settings: Settings, registry: AccountRegistry, out: TextIO,
                     stop: threading.Event, path: Path) -> int:
    from bot.brokers.factory import make_broker
    from bot.trading.trader import Trader

    for line in live_banner(settings, registry):
        print(line, file=out)
    if stop.is_set():
        return _stopped_before_start(out)
    clock = SystemClock()
    store = StateStore(path, clock=clock)
    controls = OperatorStore(path)
    trader = None
    try:
        trader = Trader(settings, registry, clock, store, broker_factory=make_broker, paper=False, out=out,
                        stop_event=stop, entry_gate=controls.entry_gate)
        cockpit = _cockpit(settings, path, trader, "live", controls, out)
        if cockpit is None:
            return 2
        return _drive(trader, args.duration, out, stop, cockpit)
    finally:
        _close_store(store, trader, controls)


def _cockpit(settings: Settings, path: Path, trader: Any, mode: str, controls: OperatorStore,
             out: TextIO) -> Any:
    """The dashboard, heartbeat and notifications beside the trader (issue 12); None after a refusal."""
    from bot.web.cockpit import Cockpit
    from bot.web.live import TraderLive

    try:
        return Cockpit(settings, path, TraderLive(trader, mode), out=out, operator=controls)
    except ValueError as error:
        print(f"nija: configuration error: {error}", file=sys.stderr)
        return None


def _drive(trader: Any, duration: float | None, out: TextIO, stop: threading.Event, cockpit: Any = None) -> int:
    """Start, supervise until a signal or the duration, then stop within the timeout and summarise.

    `stop` is the trader's own stop event: a signal reaches every thread and adapter at once, not only
    when this loop notices it.
    """
    timer = None
    stuck: list[str] = []
    from bot.trading.heartbeat import Heartbeat  # the strategy's helpers (pandas): only for a run

    heartbeat = Heartbeat(trader, trader.settings.console.heartbeat_seconds, out)
    try:
        if cockpit is not None:
            cockpit.start()
        trader.start()
        if cockpit is not None:
            cockpit.trader_started()
        heartbeat.start()
        if duration is not None:  # counted from the end of start-up: --duration 0 starts every account, then stops
            timer = threading.Timer(max(duration, 0.0), stop.set)
            timer.daemon = True
            timer.start()
        trader.run_until_stopped(stop)
    finally:
        deadline = time.monotonic() + trader.settings.trader.shutdown_timeout_seconds
        if cockpit is not None:
            cockpit.begin_stop()  # its server and round end alongside the trader's threads
        heartbeat.stop()
        if timer is not None:
            timer.cancel()
        print("stopping: every thread ends within "
              f"{trader.settings.trader.shutdown_timeout_seconds:g} s ...", file=out, flush=True)
        stuck = trader.stop()
        trader.print_summary()
        if cockpit is not None:
            cockpit.stop("stopped cleanly" if not stuck else f"stopped; still inside an exchange call: {stuck}",
                         deadline=deadline)
        trader.close_brokers()
    if stuck:
        print(f"threads still inside an exchange call at exit: {', '.join(stuck)}", file=out)
        return 1
    return 0


# ---- status -------------------------------------------------------------------------------------------
def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--paper", action="store_true",
                        help="read the paper-mode store (the default when LIVE_TRADING is not true)")


def status_path(settings: Settings, paper: bool) -> Path:
    if paper or not settings.general.live_trading:
        return paper_state_dir(settings) / DEFAULT_FILE_NAME
    return store_path(settings)


def status_lock_dir(settings: Settings, paper: bool) -> Path:
    """The state directory whose lock the bot writing `status_path`'s store holds while it runs."""
    if paper or not settings.general.live_trading:
        return paper_state_dir(settings)
    return Path(settings.general.state_dir)


def lock_held(state_dir: Path) -> bool | None:
    """Whether a bot holds the state directory's lock now; None where no bot ever took it (no lock file)."""
    if not (state_dir / LOCK_FILE_NAME).exists():
        return None
    return lock_status(state_dir).running


def status_report(
    read: ReadModel, operator: OperatorStore, settings: Settings, *, locked: bool | None = None
) -> dict[str, Any]:
    """Whether the bot runs (``locked``: whether it holds its state directory's lock, when known), and every
    account as the running (or last) bot stored it: state, reason, fix, money and P&L, positions, health."""
    run = operator.last_run()
    bot = run_status(run, time.time(), settings.web.store_heartbeat_seconds,
                     pid_alive=process_alive(run) if run is not None else None, lock_held=locked)
    now = read.latest_update() or time.time()
    positions: dict[tuple[str, str], list[PositionView]] = {}
    for position in read.positions():
        positions.setdefault((position.broker, position.account_id), []).append(position)
    accounts = []
    for a in read.accounts(max(now, time.time())):
        held = positions.get((a.broker, a.account_id), [])
        h = a.health
        accounts.append({
            "broker": a.broker, "account_id": a.account_id, "role": a.role, "state": a.state,
            "reason": a.reason, "fix": a.fix, "equity": round(a.equity, 2), "cash": round(a.cash, 2),
            "realised_pnl": round(a.realised_pnl, 2), "realised_pnl_today": round(a.realised_pnl_today, 2),
            "fees": round(a.fees, 2), "trades": a.trades, "open_positions": len(held),
            "positions": [{"symbol": p.symbol, "quantity": p.quantity, "entry_price": p.entry_price,
                           "stop_price": p.stop_price, "is_copy": p.is_copy} for p in held],
            "health": None if h is None else {
                "status": h.status, "cycles": h.cycles, "successes": h.successes,
                "consecutive_errors": h.consecutive_errors, "last_error": h.last_error,
                "last_cycle_at": h.last_cycle_at, **h.figures,
            },
            "updated_at": a.updated_at,
        })
    return {
        "bot": {"running": bot.running, "text": bot.text, "heartbeat_age_seconds": bot.heartbeat_age,
                **({"pid": run.pid, "host": run.host, "mode": run.mode, "started_at": run.started_at,
                    "stopped_at": run.stopped_at, "stop_reason": run.stop_reason} if run is not None else {})},
        "accounts": accounts,
    }


def open_views(path: Path) -> tuple[ReadModel, OperatorStore] | str:
    """Read-only views of the store at ``path`` (`status`, `trades`, `web`), or the one line saying why not."""
    if not path.is_file():
        return (f"no state store at {path}: start the bot first (python bot.py), or run the verify_*.py scripts "
                "to check accounts without a running bot")
    try:
        return ReadModel(path), OperatorStore(path, read_only=True)
    except ReadModelError as error:
        return f"state store error: {error}"


def _open_views(settings: Settings, paper: bool) -> tuple[Path, ReadModel, OperatorStore] | int:
    """The store `status` and `trades` read, or an exit code after one line on stderr."""
    try:
        path = status_path(settings, paper)
    except ConfigError as error:
        print(f"nija: configuration error: {error}", file=sys.stderr)
        return 2
    opened = open_views(path)
    if isinstance(opened, str):
        print(f"nija: {opened}", file=sys.stderr)
        return 1 if not path.is_file() else 2
    return path, *opened


def status(args: argparse.Namespace, settings: Settings, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    opened = _open_views(settings, getattr(args, "paper", False))
    if isinstance(opened, int):
        return opened
    path, read, operator = opened
    with read, operator:
        report = status_report(read, operator, settings,
                               locked=lock_held(status_lock_dir(settings, getattr(args, "paper", False))))
    report["store"] = str(path)
    if args.json:
        print(json.dumps(report, indent=2), file=out)
        return 0
    bot = report["bot"]
    print(f"NIJA is {bot['text']}", file=out)
    if not bot["running"]:
        print("The accounts below are as the bot last saw them.", file=out)
    print(f"state store: {path}", file=out)
    header = (f"{'account':<28} {'role':<6} {'state':<15} {'equity USD':>12} {'cash USD':>12} {'P&L today':>10} "
              f"{'P&L total':>10} {'pos':>4} {'health':<9} {'err':>3}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for a in report["accounts"]:
        h = a["health"] or {}
        health = h.get("status", "-") if bot["running"] else "stopped"
        print(f"{a['broker'] + ':' + a['account_id']:<28} {a['role']:<6} {a['state']:<15} {a['equity']:>12,.2f} "
              f"{a['cash']:>12,.2f} {a['realised_pnl_today']:>+10,.2f} {a['realised_pnl']:>+10,.2f} "
              f"{a['open_positions']:>4} {health:<9} {h.get('consecutive_errors', 0):>3}", file=out)
        print(f"    reason: {a['reason']}", file=out)
        if a["fix"]:
            print(f"    fix: {a['fix']}", file=out)
        for p in a["positions"]:
            print(f"    position {p['symbol']} {p['quantity']:g} @ {p['entry_price']:g}, stop {p['stop_price']:g}"
                  f"{' (copied)' if p['is_copy'] else ''}", file=out)
        if h.get("reason"):  # the figures behind the health verdict (bot/trading/health.py)
            print(f"    health {h['status']}: {h['reason']}", file=out)
            if h.get("fix"):
                print(f"    health fix: {h['fix']}", file=out)
        if h.get("recent_passes"):
            print(f"    recent: {h['recent_failed_passes']} of {h['recent_passes']} passes and "
                  f"{h['recent_failed_calls']} of {h['recent_calls']} exchange calls failed", file=out)
        if h.get("last_error"):
            print(f"    last error: {h['last_error']}", file=out)
    print("P&L: realised on closed trades, fees included (today: since 00:00 UTC of the bot's clock).", file=out)
    return 0


# ---- trades -------------------------------------------------------------------------------------------
def add_trades_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", metavar="ID", default=None,
                        help="one account: kraken:daivon_frazier, or daivon_frazier on any brokerage")
    parser.add_argument("--since", metavar="DATE", default=None,
                        help="trades closed on or after DATE (2026-11-29, or an ISO date-time, UTC)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--paper", action="store_true",
                        help="read the paper-mode store (the default when LIVE_TRADING is not true)")


def trades(args: argparse.Namespace, settings: Settings, *, out: TextIO | None = None) -> int:
    """Closed round trips with realised P&L, oldest first, and a total per account."""
    out = out or sys.stdout
    try:
        since = parse_since(args.since)
    except ValueError as error:
        print(f"nija: --since {error}", file=sys.stderr)
        return 2
    opened = _open_views(settings, getattr(args, "paper", False))
    if isinstance(opened, int):
        return opened
    path, read, operator = opened
    with read, operator:
        found = read.trades(since=since)
        if args.account:
            wanted = args.account
            found = [t for t in found if f"{t.broker}:{t.account_id}" == wanted or t.account_id == wanted]
            if not found:  # an unknown account, or one without trades: only the account list tells
                known = {a.label for a in read.accounts(time.time())}
                if wanted not in known and not any(label.endswith(f":{wanted}") for label in known):
                    print(f"nija: --account {wanted!r}: no such account in {path}; known: "
                          f"{', '.join(sorted(known))}", file=sys.stderr)
                    return 2
    totals: dict[str, dict[str, float]] = {}
    for t in found:
        total = totals.setdefault(f"{t.broker}:{t.account_id}", {"trades": 0, "wins": 0, "realised_pnl": 0.0,
                                                                  "fees": 0.0})
        total["trades"] += 1
        total["wins"] += 1 if t.realised_pnl > 0 else 0
        total["realised_pnl"] += t.realised_pnl
        total["fees"] += t.fees
    if args.json:
        print(json.dumps({"store": str(path), "trades": [asdict(t) for t in found], "totals": totals}, indent=2),
              file=out)
        return 0
    if not found:
        print(f"no closed trade{' since ' + args.since if args.since else ''} in {path}", file=out)
        return 0
    header = (f"{'closed (UTC)':<19} {'account':<26} {'symbol':<10} {'quantity':>14} {'entry':>12} {'exit':>12} "
              f"{'fees':>8} {'P&L USD':>10} {'return':>8}  exit")
    print(header, file=out)
    print("-" * len(header), file=out)
    for t in found:
        closed = datetime.fromtimestamp(t.closed_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{closed:<19} {t.broker + ':' + t.account_id:<26} {t.symbol:<10} {t.quantity:>14.8g} "
              f"{t.entry_price:>12.6g} {t.exit_price:>12.6g} {t.fees:>8.2f} {t.realised_pnl:>+10.2f} "
              f"{t.return_pct:>+7.2f}%  {', '.join(t.exit_reasons)}", file=out)
    print("-" * len(header), file=out)
    for label, total in sorted(totals.items()):
        print(f"{label:<28} {int(total['trades'])} trade(s), {int(total['wins'])} won, realised "
              f"{total['realised_pnl']:+,.2f} USD after {total['fees']:,.2f} USD of fees", file=out)
    return 0
