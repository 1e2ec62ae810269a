"""A slow or failing notification service does not slow the trader (issue 12): `python scripts/bench.py notify`.

The real `python bot.py run` (paper mode, simulated time) runs three times for --seconds each, with the same
seed: without notifications, with NOTIFY_URLS pointing at a local json:// service that takes every message
and never answers (hung), and at one that answers HTTP 500 to everything (failing). Each run's work is read
from its store afterwards: the account threads' passes and the master fills copied, and the copies' latency
(simulated seconds). If notifications waited on trading threads, the hung run would do less.

Prints {"seconds", "passes": {...}, "master_fills": {...}, "copy_latency_sim_seconds": {...},
"passes_ratio_hung", "passes_ratio_failing", "messages_received": {...}}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bot.state.readmodel import ReadModel
from scripts.benchmarks._report import print_figures
from scripts.benchmarks._webhook import Receiver

REPO = Path(__file__).resolve().parents[2]


def _service(behaviour: str) -> Receiver | None:
    """No service ('none'), one that holds every request until closed ('hung'), or one answering 500 ('failing')."""
    if behaviour == "none":
        return None
    service = Receiver(hold_seconds=None)
    if behaviour == "hung":
        service.hold.clear()
    else:
        service.fail_next = sys.maxsize
    return service


def run_bot(state: Path, seconds: float, seed: int, urls: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "NOTIFY_", "WEB_", "LIVE_"))}
    env.update(NIJA_STATE_DIR=str(state), WEB_PORT="0", SIM_SEED=str(seed), NOTIFY_BATCH_SECONDS="0",
               NOTIFY_FLUSH_SECONDS="1", PYTHONPATH=str(REPO))
    if urls:
        env["NOTIFY_URLS"] = urls
    state.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(REPO / "bot.py"), "run", "--duration", str(seconds)], cwd=state.parent,
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=seconds + 120)
    with ReadModel(state / "paper" / "nija.sqlite3") as read:
        accounts = read.accounts(0.0)
        tracking = read.tracking()
        latencies = [t.mean_latency_seconds for t in tracking if t.mean_latency_seconds is not None]
        return {
            "passes": float(sum(a.health.cycles for a in accounts if a.health is not None)),
            "master_fills": float(len(read.signals(limit=100_000))),
            "copy_latency": sum(latencies) / len(latencies) if latencies else 0.0,
        }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py notify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=20.0, help="real seconds per bot run")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    received: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("none", "hung", "failing"):
            service = _service(name)
            try:
                results[name] = run_bot(Path(tmp) / name / "state", args.seconds, args.seed,
                                        service.url if service else None)
            finally:
                if service is not None:
                    received[name] = service.arrived
                    service.close()
    figures = {
        "seconds": args.seconds,
        "passes": {k: v["passes"] for k, v in results.items()},
        "master_fills": {k: v["master_fills"] for k, v in results.items()},
        "copy_latency_sim_seconds": {k: round(v["copy_latency"], 2) for k, v in results.items()},
        "passes_ratio_hung": round(results["hung"]["passes"] / max(results["none"]["passes"], 1.0), 3),
        "passes_ratio_failing": round(results["failing"]["passes"] / max(results["none"]["passes"], 1.0), 3),
        "messages_received": received,
    }
    print_figures(figures, args.json)
    return 0
