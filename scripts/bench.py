"""Benchmarks that print figures: `python scripts/bench.py NAME [--json]`.

Each benchmark lives in scripts/benchmarks/NAME.py with a `main(argv) -> int`.
Names: backtest, optimize, strategy, nonce, sim, fanout, cli, chaos, paper.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import _repo_path  # noqa: F401 - the repository root on sys.path, so `scripts.benchmarks` and `bot` import

BENCHMARKS_DIR = Path(__file__).resolve().parent / "benchmarks"


def available() -> list[str]:
    return sorted(p.stem for p in BENCHMARKS_DIR.glob("*.py") if not p.stem.startswith("_"))


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in names:
        print(f"usage: python scripts/bench.py {{{','.join(names)}}} [--json]", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"scripts.benchmarks.{argv[0]}")
    return int(module.main(argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
