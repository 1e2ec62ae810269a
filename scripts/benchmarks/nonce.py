"""Invalid Kraken nonces on one key, the way the bot and its users share keys, against the simulator.

Three figures, each the count of EAPI:Invalid nonce answers the simulator gave (it refuses any nonce
not above the key's last, as Kraken does):
- threads: 8 threads x 100 private calls through one adapter (one process);
- processes: 2 processes x 4 threads x 100 calls on one key and one state directory;
- beside_bot: `python bot.py run` in live mode with `scripts/verify_kraken_trading_enabled.py --running`
  run --verify-runs times beside it, every key used by both, until each key made more calls afterwards.
Exits 1 when any figure is above 0 or a call failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
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
from bot.sim.standalone import wait_for
from scripts.benchmarks._kraken_rate import UNLIMITED_KRAKEN_RATE, unlimit_key
from scripts.benchmarks._live_harness import REPO, LiveExchange
from scripts.benchmarks._report import print_figures

START = 1_750_000_000.0


def _exchange() -> tuple[SimExchange, ManualClock]:
    clock = ManualClock(START)
    return SimExchange(SyntheticMarket(seed=1, n_markets=4, start_time=START), clock, seed=1), clock


def threads_on_one_key(threads: int, calls: int) -> dict[str, object]:
    exchange, clock = _exchange()
    with tempfile.TemporaryDirectory() as tmp, SimulatorServer(exchange, faces=("kraken",)) as server:
        face = server.face("kraken")
        credentials = server.provision("kraken", "bench", {"USD": 1_000.0})
        unlimit_key(server, credentials.api_key)
        settings = load_settings({"KRAKEN_API_URL": server.url("kraken"), **UNLIMITED_KRAKEN_RATE}, env_file=None)
        broker = make_broker(AccountConfig("kraken", "bench", Role.MASTER, "bench", credentials=credentials),
                             settings, clock, Path(tmp))
        failures: list[str] = []

        def work() -> None:
            for _ in range(calls):
                try:
                    broker.balances()
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


def processes_on_one_key(processes: int, threads: int, calls: int) -> dict[str, object]:
    exchange, _ = _exchange()
    with tempfile.TemporaryDirectory() as tmp, SimulatorServer(exchange, faces=("kraken",)) as server:
        face = server.face("kraken")
        credentials = server.provision("kraken", "shared", {"USD": 1_000.0})
        unlimit_key(server, credentials.api_key)
        env = {**os.environ, "NIJA_TEST_KRAKEN_KEY": credentials.api_key,
               "NIJA_TEST_KRAKEN_SECRET": credentials.api_secret}
        command = [sys.executable, "-m", "scripts.benchmarks._kraken_calls", server.url("kraken"), str(Path(tmp)),
                   str(threads), str(calls), *(f"{k}={v}" for k, v in UNLIMITED_KRAKEN_RATE.items())]
        children = [subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True) for _ in range(processes)]
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        started = time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [json.loads(child.communicate(timeout=300)[0].strip().splitlines()[-1]) for child in children]
        seconds = time.perf_counter() - started
        invalid = face.rejected.get("EAPI:Invalid nonce", 0)  # type: ignore[attr-defined]
    return {"calls": processes * threads * calls, "ok": sum(r["ok"] for r in results), "invalid_nonce": invalid,
            "seconds": round(seconds, 3), "failures": sum(r["error_count"] for r in results)}


def verify_beside_bot(verify_runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, LiveExchange(Path(tmp) / "live") as live:
        bot = live.start_bot()
        bot.wait_for_text(r"thread started", 120)
        codes = []
        for _ in range(verify_runs):
            codes.append(live.run_script("verify_kraken_trading_enabled.py", "--running").returncode)
        before = live.passes_by_account()  # passes count, whether they failed or not

        def three_more() -> bool:
            done = live.passes_by_account()
            return all(done.get(n, 0) >= before.get(n, 0) + 3 for n in live.credentials)

        wait_for(three_more, 120, "three more passes of every account (each uses its key)", alive=lambda: bot.alive)
        bot.send(signal.SIGTERM)
        code = bot.wait_exit(30)
        return {"verify_runs": verify_runs, "verify_exit_codes": codes, "bot_exit_code": code,
                "keys": len(live.credentials), "invalid_nonce": live.invalid_nonces,
                "private_calls_accepted": sum(live.private_calls(n) for n in live.credentials)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py nonce", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--verify-runs", type=int, default=3, help="verify scripts run beside the bot (0: skip)")
    args = parser.parse_args(argv)
    figures: dict[str, object] = {
        "threads": threads_on_one_key(args.threads, args.calls),
        "processes": processes_on_one_key(2, 4, args.calls),
    }
    if args.verify_runs:
        figures["beside_bot"] = verify_beside_bot(args.verify_runs)
    parts = [v for v in figures.values() if isinstance(v, dict)]
    invalid = sum(int(p["invalid_nonce"]) for p in parts)
    failed = sum(int(p.get("failures", 0)) for p in parts)
    print_figures(figures, args.json)
    return 0 if invalid == 0 and failed == 0 else 1
