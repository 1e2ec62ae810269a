"""8 threads x 100 private calls on one Kraken key through the real adapter: how many EAPI:Invalid nonce.

Prints {"calls", "invalid_nonce", "seconds"}; the per-key lock and persisted nonce make invalid_nonce 0.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from bot.brokers.factory import make_broker
from bot.clock import ManualClock
from bot.config.accounts import AccountConfig, Role
from bot.config.settings import load_settings
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer

START = 1_750_000_000.0


def run(threads: int, calls: int) -> dict[str, object]:
    clock = ManualClock(START)
    exchange = SimExchange(SyntheticMarket(seed=1, n_markets=4, start_time=START), clock, seed=1)
    with tempfile.TemporaryDirectory() as tmp, SimulatorServer(exchange, faces=("kraken",)) as server:
        face = server.face("kraken")
        credentials = server.provision("kraken", "bench", {"USD": 1_000.0})
        face.set_rate_limit(credentials.api_key, 1e9, 1e9)  # type: ignore[attr-defined]
        settings = load_settings(
            {"KRAKEN_API_URL": server.url("kraken"), "KRAKEN_RATE_COUNTER_MAX": "1e9",
             "KRAKEN_RATE_DECAY_PER_SECOND": "1e9"}, env_file=None,
        )
        broker = make_broker(AccountConfig("kraken", "bench", Role.MASTER, "bench", credentials=credentials),
                             settings, clock, Path(tmp))
        failures: list[str] = []

        def work() -> None:
            for _ in range(calls):
                try:
                    broker._private("Balance")  # type: ignore[attr-defined]
                except Exception as error:  # counted and reported, never hidden
                    failures.append(str(error))

        workers = [threading.Thread(target=work) for _ in range(threads)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        seconds = time.perf_counter() - started
        invalid = face.rejected.get("EAPI:Invalid nonce", 0)  # type: ignore[attr-defined]
    return {"calls": threads * calls, "invalid_nonce": invalid, "seconds": round(seconds, 3), "failures": len(failures)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py nonce", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args(argv)
    figures = run(args.threads, args.calls)
    print(json.dumps(figures) if args.json else
          f"{figures['calls']} calls, {figures['invalid_nonce']} invalid nonce, {figures['seconds']} s")
    return 0 if figures["invalid_nonce"] == 0 and figures["failures"] == 0 else 1
