"""Private Kraken calls per second the simulator serves (target: at least 500/s on 2 cores).

The simulator runs in a child process so the figure is the server's, not shared with the client's
interpreter; 4 client threads x 4 keys sign and send real krakenex Balance calls over keep-alive.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import threading
import time

import krakenex

START = 1_750_000_000.0


class _CountingNonceAPI(krakenex.API):
    """A plain counter nonce (one thread per key): this measures the server, not nonce handling."""

    def __init__(self, key: str, secret: str) -> None:
        super().__init__(key, secret)
        self._count = 0

    def _nonce(self) -> int:
        self._count += 1
        return self._count


def _serve(conn: object, keys: int) -> None:
    from bot.clock import ManualClock
    from bot.sim.exchange import SimExchange
    from bot.sim.prices import SyntheticMarket
    from bot.sim.server import SimulatorServer

    exchange = SimExchange(SyntheticMarket(seed=1, n_markets=4, start_time=START), ManualClock(START), seed=1)
    server = SimulatorServer(exchange, faces=("kraken",)).start()
    creds = []
    for i in range(keys):
        c = server.provision("kraken", f"k{i}", {"USD": 1_000.0})
        server.face("kraken").set_rate_limit(c.api_key, 1e9, 1e9)  # type: ignore[attr-defined]
        creds.append((c.api_key, c.api_secret))
    conn.send((server.url("kraken"), creds))  # type: ignore[attr-defined]
    conn.recv()  # type: ignore[attr-defined]
    server.stop()


def run(seconds: float, keys: int) -> dict[str, object]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(child, keys), daemon=True)
    process.start()
    url, creds = parent.recv()
    counts = [0] * keys
    errors = [0] * keys
    stop = threading.Event()

    def work(i: int) -> None:
        api = _CountingNonceAPI(*creds[i])
        api.uri = url
        while not stop.is_set():
            answer = api.query_private("Balance")
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
            "seconds": round(elapsed, 2), "client_threads": keys}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py sim", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--keys", type=int, default=4)
    args = parser.parse_args(argv)
    figures = run(args.seconds, args.keys)
    print(json.dumps(figures) if args.json else f"{figures['private_calls_per_second']} private calls/s")
    return 0
