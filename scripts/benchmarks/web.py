"""The dashboard must not slow trading (issue 12): `python scripts/bench.py web [--json]`.

1. /api/v1/accounts over real HTTP (uvicorn on a thread, as in the bot) with 100 accounts and 10,000 closed
   trades in the store (3 brokerages, a master and 32-33 followers each, every master round trip copied by
   every follower): p50 and p95 of --requests calls, and the first (cold) call. Target: p95 <= 50 ms.
2. The fan-out benchmark (`bench.py fanout`: one master fill copied to 1, 10 and 100 followers) run in this
   process --rounds times alone and --rounds times (alternating) with the same dashboard server in this
   process and a separate client process (a browser tab) polling it every second (/ui/version and the
   accounts page's live part, 100 accounts). Target: its ratio_100 stays <= 1.5. The server shows the
   100-account store, not the fan-out's own (the fan-out benchmark keeps that to itself): what is measured
   is the dashboard's CPU in the bot's process; its reads never take the trading store's lock, and SQLite's
   WAL lets them read while the bot writes.

Prints {"accounts", "trades", "accounts_first_ms", "accounts_p50_ms", "accounts_p95_ms", "fanout_ratio_100"
and "fanout_ratio_100_with_dashboard" (medians over --rounds, each value listed too), "poll_requests",
"poll_p95_ms"}.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import statistics
import tempfile
import time
import urllib.request
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path

from bot.clock import ManualClock
from bot.config.settings import load_settings
from bot.state.operator import OperatorStore
from bot.state.readmodel import ReadModel
from bot.state.records import (
    AccountStateRecord,
    CopyRecord,
    CopyStatus,
    FillRecord,
    HealthRecord,
    OrderRecord,
    SignalRecord,
    SignalStatus,
    TradeRecord,
)
from bot.state.store import StateStore
from bot.web.app import WebOptions, create_app
from bot.web.auth import Gate
from bot.web.board import Board
from bot.web.metrics import Metrics
from bot.web.server import WebServer
from scripts.benchmarks import fanout
from scripts.benchmarks._report import print_figures

START = 1_750_000_000.0
BROKERS = ("kraken", "coinbase", "alpaca")


def build_store(path: Path, accounts: int, trades: int) -> int:
    """A store as months of copy trading leave it, written as the ledger books: per master round trip, two
    signals, every follower's copy of each, an order and a fill per account and side, and a trades row per
    account. Returns the number of closed trades written."""
    clock = ManualClock(START)
    per_broker = [accounts // len(BROKERS) + (1 if i < accounts % len(BROKERS) else 0) for i in range(len(BROKERS))]
    trips = max(trades // accounts, 1)  # round trips per master; every follower copies each
    written = 0
    qty, fee = Decimal("0.1"), Decimal("0.01")
    with StateStore(path, clock=clock) as store, store.transaction():
        for broker, count in zip(BROKERS, per_broker):
            members = ["master"] + [f"user_{i:03d}" for i in range(1, count)]
            for account_id in members:
                role = "master" if account_id == "master" else "user"
                store.save_account_state(AccountStateRecord(
                    broker, account_id, role, "TRADING" if role == "master" else "FOLLOWING", "benchmark", "",
                    equity=10_000.0, cash=9_000.0))
                store.save_health(HealthRecord(broker, account_id, cycles=1000, successes=1000, last_cycle_at=START))
            for trip in range(trips):
                at = START + trip * 3600.0
                entry_signal = f"{broker}-{trip}-buy"
                for side, price, offset in (("buy", Decimal("100"), 0.0), ("sell", Decimal("101"), 1800.0)):
                    signal_id = f"{broker}-{trip}-{side}"
                    master_coid = f"{signal_id}-master"
                    store.record_signal(SignalRecord(
                        signal_id, broker, "ETH-USD", side, price, Decimal(1), price, f"mo-{signal_id}", 10_000.0,
                        at + offset, fraction_sold=Decimal(1) if side == "sell" else None,
                        master_client_order_id=master_coid, status=SignalStatus.DONE, summary={},
                        completed_at=at + offset + 1))
                    for account_id in members:
                        master = account_id == "master"
                        coid = master_coid if master else f"{signal_id}-{account_id}"
                        trade_id = f"{broker}-{trip}-buy-master" if master else f"{entry_signal}-{account_id}"
                        purpose = ("entry" if side == "buy" else "exit") if master else (
                            "copy_entry" if side == "buy" else "copy_exit")
                        store.record_order(OrderRecord(coid, broker, account_id, "ETH-USD", side, "filled",
                                                       purpose=purpose, signal_id=None if master else signal_id,
                                                       filled_base=qty, filled_quote=qty * price, avg_price=price,
                                                       fee_quote=fee))
                        store.record_fill(FillRecord(
                            f"order:{coid}", broker, account_id, coid, "ETH-USD", side, qty, price, qty * price, fee,
                            realised_pnl=Decimal("0.08") if side == "sell" else None, trade_id=trade_id,
                            time=at + offset + 0.5))
                        if not master:
                            store.add_copy(CopyRecord(
                                signal_id, broker, account_id, CopyStatus.FILLED, coid, side, "ETH-USD",
                                f"{side} 10.00 USD: 100.00 x 10000.00 / 10000.00 x 1 = 10.00"))
                        if side == "sell":
                            store.save_trade(TradeRecord(
                                trade_id, broker, account_id, "ETH-USD", at, at + offset + 0.5, qty, Decimal("100"),
                                Decimal("101"), 2 * fee, Decimal("0.08"), "second_target" if master else "copy_exit",
                                not master, None if master else entry_signal))
                            written += 1
    return written


def _get(url: str, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as answer:
        answer.read()
    return time.perf_counter() - started


def _poller(url: str, stop: Connection, report: Connection) -> None:
    """A browser tab on the accounts page of a bot whose store changes all the time: every second the page's
    script asks whether anything changed and fetches the page's live part (as if it always had)."""
    seconds: list[float] = []
    while not stop.poll(1.0):
        seconds.append(_get(url + "/ui/version"))
        seconds.append(_get(url + "/", {"X-Fragment": "1"}))
    report.send(seconds)


def _fanout(latency: float, repeats: int) -> dict[str, object]:
    """One `bench.py fanout` run's figures (main checked repeats >= fanout.MIN_REPEATS); no ratio_100 verdict."""
    return fanout._run(latency, repeats)


def _fanout_beside_dashboard(url: str, latency: float, repeats: int, rounds: int) -> dict[str, object]:
    """The fan-out benchmark ``rounds`` times alone and ``rounds`` times with a browser tab polling the dashboard
    (alternating, so a change in the machine's load hits both alike); the medians of their ratio_100."""
    context = multiprocessing.get_context("spawn")
    alone: list[float] = []
    beside: list[float] = []
    polled: list[float] = []
    for _ in range(rounds):
        alone.append(float(_fanout(latency, repeats)["ratio_100"]))  # type: ignore[arg-type]
        stop_parent, stop_child = context.Pipe()
        report_parent, report_child = context.Pipe()
        poller = context.Process(target=_poller, args=(url, stop_child, report_child), daemon=True)
        poller.start()
        try:
            beside.append(float(_fanout(latency, repeats)["ratio_100"]))  # type: ignore[arg-type]
        finally:
            stop_parent.send("stop")
            polled.extend(report_parent.recv() if report_parent.poll(60) else [])
            poller.join(10)
    return {
        "fanout_ratio_100": round(statistics.median(alone), 3), "fanout_ratios_100": alone,
        "fanout_ratio_100_with_dashboard": round(statistics.median(beside), 3),
        "fanout_ratios_100_with_dashboard": beside, "poll_requests": len(polled),
        "poll_p95_ms": round(statistics.quantiles(polled, n=20)[18] * 1000, 1) if len(polled) > 1 else None,
    }


def run(
    accounts: int, trades: int, requests: int, latency: float, repeats: int, rounds: int, with_fanout: bool
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nija.sqlite3"
        written = build_store(path, accounts, trades)
        settings = load_settings({}, env_file=None)
        read, operator = ReadModel(path), OperatorStore(path)
        board = Board(read, operator, settings)
        app = create_app(board, Gate("127.0.0.1", None), Metrics(board), WebOptions(False, 1.0, 300.0))
        server = WebServer(app, "127.0.0.1", 0)
        url = server.start()
        try:
            first = _get(url + "/api/v1/accounts")
            timings = [_get(url + "/api/v1/accounts") for _ in range(requests)]
            figures: dict[str, object] = {
                "accounts": len(read.accounts(START)), "trades": written,
                "accounts_first_ms": round(first * 1000, 1),
                "accounts_p50_ms": round(statistics.median(timings) * 1000, 1),
                "accounts_p95_ms": round(statistics.quantiles(timings, n=20)[18] * 1000, 1),
            }
            if with_fanout:
                figures.update(_fanout_beside_dashboard(url, latency, repeats, rounds))
        finally:
            server.stop()
            read.close()
            operator.close()
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py web", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="timed /api/v1/accounts calls")
    parser.add_argument("--latency", type=float, default=0.05, help="fan-out: seconds per exchange request")
    parser.add_argument("--repeats", type=int, default=fanout.MIN_REPEATS,
                        help=f"fan-out runs per follower count (bench.py fanout reports their median; "
                             f"{fanout.MIN_REPEATS} or more)")
    parser.add_argument("--rounds", type=int, default=3, help="fan-out benchmarks alone and beside the dashboard")
    parser.add_argument("--no-fanout", action="store_true", help="only the API figures")
    args = parser.parse_args(argv)
    if args.repeats < fanout.MIN_REPEATS:
        parser.error(f"--repeats: at least {fanout.MIN_REPEATS}, so the median means something")
    logging.basicConfig(level=logging.ERROR)
    figures = run(args.accounts, args.trades, args.requests, args.latency, args.repeats, args.rounds,
                  not args.no_fanout)
    print_figures(figures, args.json)
    return 0
