"""Stop times of `python bot.py run` (live mode) over --runs stops, against the simulator with exchange latency.

Each run starts the bot on the same state directory (so every start also picks up what the last one
left), waits a seeded random moment, either during start-up or while orders are flowing, and sends
SIGTERM or SIGINT (alternately). It records the seconds from the signal to the process's end, the exit
code, whether the output holds a traceback, and how many orders the bot started after the signal (the
store's order rows written later than it). With --rate-limited the bot's Kraken counter is tiny, so
its calls spend their time waiting for it. Prints every run, then the median and the maximum.
Exits 1 when a stop took SHUTDOWN_TIMEOUT_SECONDS (its default, 5 s) or more, exited non-zero, printed a
traceback or started an order after its signal.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.sim.standalone import wait_for
from scripts.benchmarks._live_harness import STOP_LIMIT_SECONDS, LiveExchange

RATE_LIMITED = {"KRAKEN_RATE_COUNTER_MAX": "3", "KRAKEN_RATE_DECAY_PER_SECOND": "0.05", "KRAKEN_RATE_HEADROOM": "0"}


def _one_stop(live: LiveExchange, number: int, rng: random.Random, rate_limited: bool) -> dict[str, object]:
    orders_before = len(live.orders())
    bot = live.start_bot(**(RATE_LIMITED if rate_limited else {}))
    moment = rng.choice(("start-up", "trading"))
    if moment == "start-up":
        time.sleep(rng.uniform(0.0, 2.5))  # the signal's moment is what varies: a plain delay is the point here
    else:
        try:
            wait_for(lambda: len(live.orders()) > orders_before or live.passes() > 0, 60, "the bot trading",
                     alive=lambda: bot.alive)
        except TimeoutError:
            pass  # the run still gets its signal; the output tells what it was doing
        time.sleep(rng.uniform(0.0, 1.5))
    sent = signal.SIGTERM if number % 2 == 0 else signal.SIGINT
    bot.send(sent)
    code = bot.wait_exit(60)
    if code is None:
        bot.kill()
    return {
        "run": number + 1, "moment": moment, "signal": signal.Signals(sent).name,
        "seconds": round(bot.stop_seconds(), 3) if code is not None else None, "exit_code": code,
        "traceback": bot.printed_traceback(), "orders_after_signal": len(live.orders_started_after_signal(bot)),
    }


def run(runs: int, latency: float, seed: int, rate_limited: bool) -> dict[str, object]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-stop-") as tmp, LiveExchange(Path(tmp) / "live") as live:
        live.set_latency(latency)
        stops = [_one_stop(live, i, rng, rate_limited) for i in range(runs)]
    seconds = [float(s["seconds"]) for s in stops if s["seconds"] is not None]  # type: ignore[arg-type]
    return {
        "runs": runs, "latency_seconds": latency, "rate_limited": rate_limited, "seed": seed,
        "median_seconds": round(statistics.median(seconds), 3) if seconds else None,
        "max_seconds": round(max(seconds), 3) if seconds else None,
        "exit_codes": dict(Counter(str(s["exit_code"]) for s in stops)),
        "tracebacks": sum(bool(s["traceback"]) for s in stops),
        "orders_after_signal": sum(int(s["orders_after_signal"]) for s in stops),  # type: ignore[call-overload]
        "stops": stops,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py stop", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds the simulator adds to every request")
    parser.add_argument("--seed", type=int, default=11, help="seed of the moments the signals are sent")
    parser.add_argument("--rate-limited", action="store_true", help="a tiny Kraken rate counter: calls wait for it")
    args = parser.parse_args(argv)
    figures = run(args.runs, args.latency, args.seed, args.rate_limited)
    if args.json:
        print(json.dumps(figures))
    else:
        for stop in figures["stops"]:  # type: ignore[attr-defined]
            print(stop)
        print(f"median {figures['median_seconds']} s, max {figures['max_seconds']} s, exit codes "
              f"{figures['exit_codes']}, tracebacks {figures['tracebacks']}, orders after the signal "
              f"{figures['orders_after_signal']}")
    bad = [s for s in figures["stops"]  # type: ignore[attr-defined]
           if s["exit_code"] != 0 or s["seconds"] is None or s["seconds"] >= STOP_LIMIT_SECONDS or s["traceback"]
           or s["orders_after_signal"]]
    return 1 if bad else 0
