"""A separate process calling Kraken on one key through the real adapter (cross-process nonce and counter tests).

Usage: python -m scripts.benchmarks._kraken_calls URL STATE_DIR THREADS CALLS [SETTING=VALUE ...]
The key and secret come from NIJA_TEST_KRAKEN_KEY / NIJA_TEST_KRAKEN_SECRET. It builds the adapter,
prints "ready", waits for a line on stdin (so the test can start several processes at one moment),
runs THREADS threads x CALLS balance reads, and prints one JSON line: {"ok": N, "errors": [...]}.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from bot.brokers.factory import make_broker
from bot.clock import SystemClock
from bot.config.accounts import AccountConfig, Credentials, Role
from bot.config.settings import load_settings


def main(argv: list[str]) -> int:
    url, state_dir, threads, calls, *extra = argv
    env = {"KRAKEN_API_URL": url, "NIJA_STATE_DIR": state_dir, "EXCHANGE_TIMEOUT_SECONDS": "10"}
    env.update(item.split("=", 1) for item in extra)
    settings = load_settings(env, env_file=None)
    credentials = Credentials(os.environ["NIJA_TEST_KRAKEN_KEY"], os.environ["NIJA_TEST_KRAKEN_SECRET"], source="test")
    account = AccountConfig("kraken", "shared", Role.MASTER, "shared", credentials=credentials)
    broker = make_broker(account, settings, SystemClock(), Path(state_dir))
    broker.markets()
    print("ready", flush=True)
    sys.stdin.readline()
    ok = 0
    errors: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        nonlocal ok
        for _ in range(int(calls)):
            try:
                broker.balances()
                with lock:
                    ok += 1
            except Exception as error:  # reported to the test, which names it
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")

    workers = [threading.Thread(target=work) for _ in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({"ok": ok, "errors": errors[:5], "error_count": len(errors)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
