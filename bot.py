"""NIJA entry point: `python bot.py --help`."""

import os

# numpy's OpenBLAS starts a worker thread per core when numpy is imported, and they spin for work that never
# comes: NIJA does no matrix algebra big enough to share out. One thread saves ~15 % of a backtest's CPU
# (`python scripts/bench.py backtest`); an OPENBLAS_NUM_THREADS already set is kept. Before any import of numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from bot.console.exits import run_main  # after the thread setting, which must come before numpy

if __name__ == "__main__":
    raise SystemExit(run_main("bot.cli:main"))
