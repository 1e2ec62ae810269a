"""Random kill -9 + restart cycles of the live bot against a standalone simulator with faults on; then the audit.

The bot runs in live mode (`LIVE_TRADING=true`) against `python -m bot.sim --state FILE` in its own
process, with 10 % of answers lost after the order executed and 5 % answered HTTP 5xx on every
endpoint; a master and several followers; the master trading on loose (ordinary) settings. Each cycle
starts the bot and SIGKILLs it at a random moment (seeded). After the last kill the bot is restarted
once more to recover and finish its work, killed again, and the store is audited against the
exchange (bot/diagnostics/ledger_audit.py).

Prints {"kills", "master_fills", "copies_expected", "copies_done", "copies_skipped_with_reason",
"duplicates", "lost", "position_mismatches", "stop_mismatches", "seconds", ...}; exits 1 when any of
duplicates, lost or mismatches is not 0. `--problems` lists each problem found.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts.benchmarks._crash_harness import CrashLab
from scripts.benchmarks._report import print_figures

DEFAULT_FAULTS = "drop=0.1,5xx=0.05"
FOLLOWERS = {"alice": 2_500.0, "bob": 400.0, "carol": 1_200.0, "dave": 6_000.0}


def run(kills: int = 30, seed: int = 1, faults: str = DEFAULT_FAULTS, min_life: float = 2.0, max_life: float = 8.0,
        root: Path | None = None, followers: dict[str, float] | None = None) -> dict[str, Any]:
    """The figures of one chaos run (and its problems under "problems")."""
    started = time.monotonic()
    owned = root is None
    root = root or Path(tempfile.mkdtemp(prefix="nija-chaos-"))
    draws = random.Random(seed)
    lab = CrashLab(root, followers=followers or FOLLOWERS, seed=seed, faults=faults, fault_seed=seed)
    unexpected: list[str] = []
    try:
        lab.start()
        for _ in range(kills):
            life = lab.start_bot()
            code = life.wait_exit(draws.uniform(min_life, max_life))  # the kill moment is the random draw
            if code is not None:
                unexpected.append(f"life {life.number} exited by itself with {code}")
            life.kill()
        unfinished = lab.settle()
        report = lab.audit()
    finally:
        lab.close()
        if owned:
            shutil.rmtree(root, ignore_errors=True)
    figures: dict[str, Any] = {"kills": kills, **report.figures(), "unfinished": len(unfinished),
                               "unexpected_exits": len(unexpected), "seconds": round(time.monotonic() - started, 1)}
    figures["problems"] = unexpected + [f"unfinished: {u}" for u in unfinished] + report.problems
    return figures


def failed(figures: dict[str, Any]) -> bool:
    return any(figures[name] for name in ("duplicates", "lost", "position_mismatches", "stop_mismatches",
                                          "half_exit_mismatches", "unfinished", "unexpected_exits"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=DEFAULT_FAULTS, help="the simulator's --faults plan")
    parser.add_argument("--keep", type=Path, default=None, help="run in this directory and keep it (logs, stores)")
    parser.add_argument("--problems", action="store_true", help="also print every problem found")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    figures = run(args.kills, args.seed, args.faults, root=args.keep)
    problems = figures.pop("problems")
    print_figures(figures, args.json, name_width=28)
    if args.problems:
        for line in problems:
            print(line, file=sys.stderr)
    return 1 if failed(figures) else 0
