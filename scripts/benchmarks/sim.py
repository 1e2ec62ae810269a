"""Private Kraken calls per second the simulator serves (target: at least 500/s on 2 cores).

The simulator runs in a child process so the figure is the server's, not shared with the client's
interpreter; 4 client threads x 4 keys sign and send real krakenex Balance calls over keep-alive.
With --state the exchange writes through to a state file (bot/sim/persistence.py): every private call
then also saves its key's nonce, the cost a standalone `python -m bot.sim --state FILE` pays.
Exits 1 under --min-rate (500) calls per second or when any call failed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path

import krakenex

from scripts.benchmarks._kraken_rate import unlimit_key

START = 1_750_000_000.0
MIN_CALLS_PER_SECOND = 500.0


class _CountingNonceAPI(krakenex.API):
    """A plain counter nonce (one thread per key): this measures the server, not nonce handling."""

    def __init__(self, key: str, secret: str) -> None:
        super().__init__(key, secret)
        self._count = 0

    def _nonce(self) -> int:
        self._count += 1
        return self._count


def _serve(conn: object, keys: int, state_dir: str | None) -> None:
    from bot.clock import ManualClock
    from bot.sim.exchange import SimExchange
    from bot.sim.persistence import MarketParams
    from bot.sim.prices import SyntheticMarket
    from bot.sim.reload import open_exchange
    from bot.sim.server import SimulatorServer

    if state_dir is None:
        exchange = SimExchange(SyntheticMarket(seed=1, n_markets=4, start_time=START), ManualClock(START), seed=1)
    else:
        market = MarketParams(seed=1, markets=4, start_time=START)
        exchange = open_exchange(Path(state_dir) / "sim.db", market, clock=ManualClock(START)).exchange
    server = SimulatorServer(exchange, faces=("kraken",)).start()
    creds = []
    for i in range(keys):
        c = server.provision("kraken", f"k{i}", {"USD": 1_000.0})
        unlimit_key(server, c.api_key)
        creds.append((c.api_key, c.api_secret))
    conn.send((server.url("kraken"), creds))  # type: ignore[attr-defined]
    conn.recv()  # type: ignore[attr-defined]
    server.stop()


def run(seconds: float, keys: int, state: bool = False) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as state_dir:
        return _run(seconds, keys, state_dir if state else None)


def _run(seconds: float, keys: int, state_dir: str | None) -> dict[str, object]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(child, keys, state_dir), daemon=True)
    process.start()
    url, creds = parent.recv()
    counts = [0] * keys
    errors = [0] * keys
    stop = threading.Event()

    def work(i: int) -> None:
        api = _CountingNonceAPI(*creds[i])
        api.uri = url
        while not stop.is_set():
            try:
                answer = api.query_private("Balance")
            except Exception:  # a transport failure is an error of the run, counted like a refused call
                errors[i] += 1
                continue
            counts[i] += 1
            errors[i] += bool(answer["error"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(keys)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    parent.send("stop")
    process.join(timeout=10)
    total = sum(counts)
    return {"private_calls_per_second": round(total / elapsed, 1), "calls": total, "errors": sum(errors),
            "seconds": round(elapsed, 2), "client_threads": keys, "state_file": state_dir is not None}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py sim", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--state", action="store_true", help="write the exchange through to a state file")
    parser.add_argument("--min-rate", type=float, default=MIN_CALLS_PER_SECOND,
                        help=f"exit 1 under this many private calls per second (default {MIN_CALLS_PER_SECOND:g})")
    args = parser.parse_args(argv)
    figures = run(args.seconds, args.keys, args.state)
    figures["min_calls_per_second"] = args.min_rate
    print(json.dumps(figures) if args.json else f"{figures['private_calls_per_second']} private calls/s")
    problems = []
    if float(figures["private_calls_per_second"]) < args.min_rate:  # type: ignore[arg-type]
        problems.append(f"{figures['private_calls_per_second']} private calls/s is under {args.min_rate:g}")
    if figures["errors"]:
        problems.append(f"{figures['errors']} calls failed")
    for problem in problems:
        print(f"bench.py sim: {problem}", file=sys.stderr)
    return 1 if problems else 0
