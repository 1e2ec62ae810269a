"""Copy fan-out: how long one master fill takes to reach 1, 10 and 100 followers with 50 ms exchange latency.

Real Kraken adapters over HTTP against the simulator (in its own process), each follower with its own
keys. The master's order is booked by the execution ledger (its signal and one outbox row per follower
in one transaction); the timed part is one round of the copy dispatcher, which sizes, sends and books
every follower's copy. The figure that matters is ratio_100 = seconds(100 followers) / seconds(1
follower): concurrent fan-out keeps it near 1 (serial fan-out would make it near 100). Every figure is
the median of --repeats runs (at least 5), never the best one. single_order_seconds is one order
through the adapter with the same latency, measured in the same run, for scale (a copy also reads the
follower's balance before it sizes the order). cpu_seconds is this process's CPU (user + system, every
thread) per fan-out; cpu_ms_per_copy divides the 100-follower figure by 100, and context_switches_per_copy
counts how often the bot's threads gave up a core in it (each Kraken call, each SQL statement and each
file lock lets the GIL go, and with 100 threads waiting for it every such moment costs a handover). The
100 followers' copies share one GIL, so seconds(100) is about the whole fan-out's CPU plus the waits no
CPU can fill (the first answers, the last one): the per-copy CPU is what a change must cut (where it
goes: docs/running.md, "Copy fan-out"). Exits 1 when ratio_100 is over --max-ratio (1.5).

Every key gets a rate counter it cannot fill, on the simulator and in the adapters' limiter: each
follower makes several private calls per fan-out and the fan-out is repeated within seconds, which on
Kraken's Starter tier would make the later repeats wait for the counter (seen: 6 s per fan-out). The
limiter's own cost stays in; rate_limiter_wait_seconds shows it waited for nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path

from bot.brokers.base import OrderRequest, OrderStatus, Side, new_client_order_id
from bot.brokers.factory import make_broker
from bot.clock import ManualClock
from bot.config.accounts import AccountConfig, Role
from bot.config.settings import load_settings
from bot.copy.dispatcher import CopyDispatcher
from bot.copy.followers import Follower
from bot.execution.ids import signal_id_for
from bot.execution.ledger import ExecutionLedger, OrderIntent
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer
from bot.state.records import OrderPlan
from bot.state.store import StateStore
from scripts.benchmarks._kraken_rate import UNLIMITED_KRAKEN_RATE, unlimit_key

START = 1_750_000_000.0
SYMBOL = "BTC-USD"
COUNTS = (1, 10, 100)
MIN_REPEATS = 5
MAX_RATIO_100 = 1.5


def _rate_limit_waits(followers: list[Follower]) -> float:
    """Real seconds the followers' client-side rate limiters made them wait (0 when the fan-out is not throttled)."""
    return sum(float(getattr(getattr(f.broker, "limiter", None), "waited_seconds", 0.0)) for f in followers)


def _usage() -> tuple[float, int]:
    """(CPU seconds, context switches) of this process so far, every thread: the fan-out's cost, in microseconds
    (os.times counts in 10 ms clock ticks, a whole 1-follower fan-out)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_nvcsw + usage.ru_nivcsw


def _exchange_process(conn: Connection, n_followers: int) -> None:
    """The simulated Kraken in its own process: a real exchange's CPU is not the bot's, so it must not share our GIL."""
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=5, n_markets=4, start_time=START - 86_400), clock, seed=1)
    with SimulatorServer(exchange, faces=("kraken",)) as server:
        credentials = {"master": server.provision("kraken", "master", {"USD": 1_000_000.0})}
        for i in range(n_followers):
            credentials[f"user{i:03d}"] = server.provision("kraken", f"user{i:03d}", {"USD": 5_000.0})
        for key in credentials.values():
            unlimit_key(server, key.api_key)
        conn.send((server.url("kraken"), credentials))
        while True:
            command, value = conn.recv()
            if command == "stop":
                break
            exchange.faults.clear()
            if value:
                exchange.faults.set(face="kraken", latency=value)
            conn.send("ok")


def _run(latency: float, repeats: int) -> dict[str, object]:
    clock = ManualClock(START)
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_exchange_process, args=(child, max(COUNTS)), daemon=True
    )
    process.start()

    def set_latency(value: float) -> None:
        parent.send(("latency", value))
        parent.recv()

    try:
        url, credentials = parent.recv()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            settings = load_settings(
                {"KRAKEN_API_URL": url, "NIJA_STATE_DIR": str(root / "state"), "ORDER_LOOKUP_DELAY_SECONDS": "0",
                 **UNLIMITED_KRAKEN_RATE},
                env_file=None,
            )

            def account(account_id: str, role: Role = Role.USER) -> AccountConfig:
                return AccountConfig("kraken", account_id, role, account_id, credentials=credentials[account_id])

            master = make_broker(account("master", Role.MASTER), settings, clock, root / "brokers")
            followers = []
            for i in range(max(COUNTS)):
                follower_account = account(f"user{i:03d}")
                broker = make_broker(follower_account, settings, clock, root / "brokers")
                followers.append(Follower(follower_account, broker))
            for follower in followers:
                # As at the bot's start-up: every account connects and reads its balance (markets loaded, session
                # open, nonce block reserved) long before the first copy.
                follower.broker.markets()
                follower.broker.balances()
            store = StateStore(root / "state" / "nija.sqlite3", clock=clock)

            set_latency(latency)
            single: list[float] = []
            for _ in range(repeats):
                started = time.perf_counter()
                result = followers[0].broker.place_order(
                    OrderRequest(SYMBOL, Side.BUY, new_client_order_id(), quote_notional=Decimal(20))
                )
                single.append(time.perf_counter() - started)
                assert result.status is not OrderStatus.REJECTED, result

            seconds: list[float] = []
            spreads: list[float] = []
            cpu_seconds: list[float] = []
            switches: list[float] = []
            limiter_waits = 0.0
            for count in COUNTS:
                ids = [f.account_id for f in followers[:count]]
                ledger = ExecutionLedger(store, settings, clock, followers_of=lambda broker, ids=ids: ids)
                dispatcher = CopyDispatcher("kraken", store, ledger, settings, clock, followers[:count])
                runs: list[float] = []
                cpu_runs: list[float] = []
                switch_runs: list[int] = []
                for _ in range(repeats):
                    set_latency(0.0)  # the master's own order is not part of the fan-out
                    plan = OrderPlan(equity_before=master.balances().equity, emits_signal=True, stop_distance=1.0)
                    intent = OrderIntent("kraken", "master", SYMBOL, Side.BUY, "entry", new_client_order_id(),
                                         quote_notional=Decimal(5_000), plan=plan)
                    order = ledger.submit(intent, master)
                    if order.status != "filled":
                        raise RuntimeError(f"the master's order did not fill: {order.status} {order.reason}")
                    set_latency(latency)
                    waited = _rate_limit_waits(followers[:count])
                    started, (cpu_started, switches_started) = time.perf_counter(), _usage()
                    dispatcher.run_due()
                    runs.append(time.perf_counter() - started)
                    cpu_ended, switches_ended = _usage()
                    cpu_runs.append(cpu_ended - cpu_started)
                    switch_runs.append(switches_ended - switches_started)
                    limiter_waits += _rate_limit_waits(followers[:count]) - waited
                    summary = dispatcher.summary(signal_id_for("kraken", order.client_order_id))
                    if summary.succeeded != count:
                        raise RuntimeError(f"fan-out to {count} followers: {summary.line()}")
                dispatcher.close()
                seconds.append(statistics.median(runs))
                cpu_seconds.append(statistics.median(cpu_runs))
                switches.append(statistics.median(switch_runs))
                spreads.append(max(runs) - min(runs))
            store.close()
    finally:
        parent.send(("stop", 0.0))
        process.join(timeout=10)
    single_seconds = statistics.median(single)
    return {
        "followers": list(COUNTS),
        "seconds": [round(s, 4) for s in seconds],
        "spread_seconds": [round(s, 4) for s in spreads],
        "cpu_seconds": [round(s, 4) for s in cpu_seconds],
        "cpu_ms_per_copy": round(cpu_seconds[-1] / COUNTS[-1] * 1000, 3),
        "context_switches_per_copy": round(switches[-1] / COUNTS[-1], 1),
        "single_order_seconds": round(single_seconds, 4),
        "ratio_100": round(seconds[-1] / seconds[0], 3),
        "ratio_100_vs_single_order": round(seconds[-1] / single_seconds, 3),
        "latency_seconds": latency,
        "rate_limiter_wait_seconds": round(limiter_waits, 4),
        "repeats": repeats,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py fanout", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds injected per exchange request")
    parser.add_argument("--repeats", type=int, default=MIN_REPEATS,
                        help=f"runs per follower count, at least {MIN_REPEATS} (the median is reported)")
    parser.add_argument("--max-ratio", type=float, default=MAX_RATIO_100, help="exit 1 when ratio_100 is above this")
    args = parser.parse_args(argv)
    if args.repeats < MIN_REPEATS:
        parser.error(f"--repeats: at least {MIN_REPEATS}, so the median means something")
    logging.basicConfig(level=logging.ERROR)
    figures = _run(args.latency, args.repeats)
    figures["max_ratio_100"] = args.max_ratio
    if args.json:
        print(json.dumps(figures))
    else:
        for count, seconds in zip(figures["followers"], figures["seconds"]):  # type: ignore[call-overload]
            print(f"{count:>4} followers: {seconds:.3f} s (median of {args.repeats})")
        print(f"single order: {figures['single_order_seconds']:.3f} s; ratio_100 = {figures['ratio_100']}")
    if float(figures["ratio_100"]) > args.max_ratio:  # type: ignore[arg-type]
        print(f"bench.py fanout: ratio_100 {figures['ratio_100']} is over {args.max_ratio}", file=sys.stderr)
        return 1
    return 0
