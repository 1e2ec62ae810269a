"""The first minute of `python bot.py`: seconds to the first master fill, and the CPU a running paper bot takes.

Runs the real default command (no seed, 600x, the demo market) as its own process in a fresh folder, twice:
- the demo as it is: seconds from launch until the master's first fill is in the paper store (polled), and the
  CPU share of one core over a steady window after start-up (the process's own user + system time, /proc);
- the same with ENTRY_BLOCKING=true: every scan, guard pass and simulator call, but no trade: the idle share.
Prints {"first_fill_seconds", "steady_cpu_percent", "idle_cpu_percent", "window_seconds"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime and stime: fields 14 and 15 of the whole line


def _first_fill(store: Path) -> bool:
    if not store.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)) as db:
            return db.execute("SELECT 1 FROM fills WHERE account_id = 'master' LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError:
        return False


def _run(warmup: float, window: float, extra: dict[str, str]) -> tuple[float | None, float]:
    """(seconds to the first master fill or None, CPU percent over the window) of one fresh paper run."""
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KRAKEN_", "COINBASE_", "ALPACA_", "NIJA_", "SIM_", "PAPER_", "LIVE_TRADING"))}
        env.update({"NIJA_HOME": home, **extra})
        store = Path(home) / "state" / "paper" / "nija.sqlite3"
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, str(REPO / "bot.py"), "--duration", str(warmup + window + 5)],
                                   cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            first_fill = None
            while time.monotonic() - started < warmup:
                if first_fill is None and _first_fill(store):
                    first_fill = time.monotonic() - started
                time.sleep(0.05)  # a benchmark's sampling interval, not a test's synchronisation
            cpu_before, at = _cpu_seconds(process.pid), time.monotonic()
            while time.monotonic() - at < window:
                if first_fill is None and _first_fill(store):
                    first_fill = time.monotonic() - started
                time.sleep(0.25)
            cpu = _cpu_seconds(process.pid) - cpu_before
            elapsed = time.monotonic() - at
        finally:
            process.terminate()
            process.wait(timeout=30)
    return first_fill, 100.0 * cpu / elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py paper")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--warmup", type=float, default=10.0, help="real seconds before the CPU window opens")
    parser.add_argument("--window", type=float, default=30.0, help="real seconds of the CPU window")
    args = parser.parse_args(argv)
    first_fill, steady = _run(args.warmup, args.window, {})
    _, idle = _run(args.warmup, args.window, {"ENTRY_BLOCKING": "true"})
    figures = {
        "first_fill_seconds": None if first_fill is None else round(first_fill, 2),
        "steady_cpu_percent": round(steady, 1),
        "idle_cpu_percent": round(idle, 1),
        "window_seconds": args.window,
    }
    print(json.dumps(figures) if args.json else
          f"first master fill after {figures['first_fill_seconds']} s; CPU {figures['steady_cpu_percent']} % of a "
          f"core while trading, {figures['idle_cpu_percent']} % with entries blocked ({args.window:g} s windows)")
    return 0
