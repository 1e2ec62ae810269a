"""Walk-forward tuning of APEX's thresholds with optuna (issue 14).

Rolling windows: train on `train_days`, then test the best values found on the next `test_days`, which
the search never saw; the window then moves on by `test_days`. Each window's search is an optuna study
with a TPE sampler seeded from `seed` and the window's number, run sequentially, so the same command
gives the same numbers. Indicators are computed once for the whole data (`prepare`) and reused by every
trial: the search space holds only thresholds, exits and sizing, never an indicator period.

The in-sample and out-of-sample results are reported side by side per window, with the shipped defaults'
out-of-sample result for comparison, and a warning when out-of-sample falls far below in-sample (the
values fit noise). The values to use next are those of the most recent window, printed as .env lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bot.backtest.data import DataError, find_files, read_candles, timeframe_seconds
from bot.backtest.engine import Prepared, prepare, run_backtest
from bot.backtest.metrics import curve_stats
from bot.backtest.report import iso
from bot.backtest.rules import MarketRules, exchange_for, market_rules
from bot.config.sections.strategy import StrategySettings
from bot.config.settings import Settings

DAY = 86_400


@dataclass(frozen=True)
class Param:
    """One searched setting: a StrategySettings field, its range and step."""

    name: str
    low: float
    high: float
    step: float
    integer: bool = False


#: The declared search space. second_target_r is searched as its distance above first_target_r, so the
#: second target always lies beyond the first.
SEARCH_SPACE: tuple[Param, ...] = (
    Param("adx_min", 10, 30, 1),
    Param("rsi_oversold", 20, 40, 1),
    Param("rsi_oversold_lookback", 1, 6, 1, integer=True),
    Param("rsi_slow_max", 40, 60, 1),
    Param("volume_min_ratio", 0.0, 1.5, 0.1),
    Param("min_confidence", 0.4, 0.95, 0.05),
    Param("stop_atr_multiple", 1.0, 3.0, 0.25),
    Param("first_target_r", 0.75, 2.0, 0.25),
    Param("second_target_extra_r", 0.5, 3.0, 0.25),
    Param("trail_atr_multiple", 1.0, 3.0, 0.25),
    Param("max_hold_hours", 6, 72, 6),
)


def settings_from(params: Mapping[str, float], base: StrategySettings) -> StrategySettings:
    values = dict(params)
    extra = values.pop("second_target_extra_r", None)
    if extra is not None:
        values["second_target_r"] = values.get("first_target_r", base.first_target_r) + extra
    return base.model_copy(update=values)


def env_lines(s: StrategySettings) -> list[str]:
    """The searched settings as .env lines."""
    names = [p.name for p in SEARCH_SPACE if p.name != "second_target_extra_r"] + ["second_target_r"]
    return [f"{name.upper()}={getattr(s, name):g}" for name in names]


@dataclass(frozen=True)
class Score:
    trades: int
    total_return: float
    sharpe: float | None
    max_drawdown: float

    def objective(self, name: str, min_trades: int) -> float:
        """What the search maximises; too few trades scores below any real result."""
        if self.trades < min_trades:
            return -100.0 + self.trades
        if name == "return":
            return self.total_return
        return self.sharpe if self.sharpe is not None else 0.0


def evaluate(
    prepared: Prepared, settings: Settings, s: StrategySettings, rules: MarketRules, balance: float,
    candle_seconds: int, window: tuple[float, float],
) -> Score:
    result = run_backtest({}, settings, rules, balance=balance, candle_seconds=candle_seconds, prepared=prepared,
                          strategy=s, window=window)
    master = result.accounts[0]
    times = result.timeline.astype("int64") + candle_seconds
    curve = curve_stats(master.equity_curve, times, balance)
    return Score(len(master.trades), curve.total_return, curve.sharpe, curve.max_drawdown.depth)


@dataclass(frozen=True)
class WindowResult:
    window: int
    train_from: str
    train_to: str
    test_from: str
    test_to: str
    in_sample: Score
    out_of_sample: Score
    defaults_out_of_sample: Score
    best: dict[str, float]
    overfit: bool


def windows(first: float, end: float, train_days: float, test_days: float) -> list[tuple[float, float, float]]:
    """(train start, test start, test end) rolling by test_days; the last test window may be shorter."""
    out = []
    start = first
    while start + (train_days + test_days / 2) * DAY <= end:
        test_start = start + train_days * DAY
        out.append((start, test_start, min(test_start + test_days * DAY, end)))
        start += test_days * DAY
    return out


def _annualised(score: Score, days: float) -> float:
    return score.total_return * 365.0 / days if days > 0 else 0.0


def walk_forward(
    frames: Mapping[str, pd.DataFrame], settings: Settings, rules: MarketRules, *, candle_seconds: int,
    trials: int, balance: float = 1_000.0, progress: bool = False,
) -> dict[str, object]:
    import optuna  # imported here: `--help` and the other commands never pay for it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    b = settings.backtest
    base = settings.strategy
    prepared = prepare(frames, base)
    first = float(prepared.timeline[0])
    end = float(prepared.timeline[-1]) + candle_seconds
    plan = windows(first, end, b.optimize_train_days, b.optimize_test_days)
    if not plan:
        days = (end - first) / DAY
        raise DataError(f"{days:.0f} days of candles is too short for OPTIMIZE_TRAIN_DAYS={b.optimize_train_days:g} "
                        f"plus half of OPTIMIZE_TEST_DAYS={b.optimize_test_days:g}")
    started = time.perf_counter()
    results: list[WindowResult] = []
    last_best = base
    for number, (train_start, test_start, test_end) in enumerate(plan, start=1):
        train = (train_start, test_start)

        def objective(trial: optuna.Trial, train: tuple[float, float] = train) -> float:
            params = {
                p.name: (trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step)) if p.integer
                         else trial.suggest_float(p.name, p.low, p.high, step=p.step))
                for p in SEARCH_SPACE
            }
            score = evaluate(prepared, settings, settings_from(params, base), rules, balance, candle_seconds, train)
            trial.set_user_attr("score", asdict(score))
            return score.objective(b.optimize_objective, b.optimize_min_trades)

        sampler = optuna.samplers.TPESampler(seed=b.optimize_seed + number)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=trials)
        best = settings_from(study.best_params, base)
        in_sample = Score(**study.best_trial.user_attrs["score"])
        out = evaluate(prepared, settings, best, rules, balance, candle_seconds, (test_start, test_end))
        defaults = evaluate(prepared, settings, base, rules, balance, candle_seconds, (test_start, test_end))
        is_rate = _annualised(in_sample, (test_start - train_start) / DAY)
        oos_rate = _annualised(out, (test_end - test_start) / DAY)
        overfit = is_rate > 0 and oos_rate < b.optimize_overfit_ratio * is_rate
        results.append(WindowResult(number, iso(train_start) or "", iso(test_start) or "", iso(test_start) or "",
                                    iso(test_end) or "", in_sample, out, defaults,
                                    {k: round(v, 6) for k, v in study.best_params.items()}, overfit))
        last_best = best
        if progress:
            print(f"window {number}/{len(plan)} done", file=sys.stderr)
    seconds = time.perf_counter() - started
    out_days = sum((test_end - test_start) / DAY for _, test_start, test_end in plan)
    is_rate = sum(_annualised(r.in_sample, b.optimize_train_days) for r in results) / len(results)
    oos_compound = float(np.prod([1 + r.out_of_sample.total_return for r in results]) - 1)
    defaults_compound = float(np.prod([1 + r.defaults_out_of_sample.total_return for r in results]) - 1)
    oos_rate = oos_compound * 365.0 / out_days if out_days else 0.0
    warning = ""
    if is_rate > 0 and oos_rate < b.optimize_overfit_ratio * is_rate:
        warning = (f"OVER-FITTING: out-of-sample earns {oos_rate * 100:.1f} % a year against {is_rate * 100:.1f} % "
                   f"in-sample (under {b.optimize_overfit_ratio:g} of it): the chosen values fit the training "
                   "windows' noise; do not trade them on this evidence")
    return {
        "trials_per_window": trials,
        "windows": [asdict(r) for r in results],
        "train_days": b.optimize_train_days,
        "test_days": b.optimize_test_days,
        "objective": b.optimize_objective,
        "in_sample_annualised_return": round(is_rate, 6),
        "out_of_sample_return": round(oos_compound, 6),
        "out_of_sample_annualised_return": round(oos_rate, 6),
        "defaults_out_of_sample_return": round(defaults_compound, 6),
        "warning": warning,
        "env": env_lines(last_best),
        "trials": trials * len(results),
        "seconds": round(seconds, 3),
        "trials_per_minute": round(trials * len(results) / seconds * 60, 1) if seconds > 0 else 0.0,
    }


def _pct(value: float) -> str:
    return f"{value * 100:+.2f}%"


def format_walk_forward(report: Mapping[str, object]) -> str:
    header = (f"{'win':>3}  {'train':<23}  {'test':<23}  {'IS trades':>9}{'IS return':>10}{'IS Sharpe':>10}"
              f"{'OOS trades':>11}{'OOS return':>11}{'OOS Sharpe':>11}{'defaults OOS':>13}")
    lines = [f"walk-forward: {report['trials_per_window']} trials a window, objective {report['objective']}, "
             f"train {report['train_days']:g} days, test {report['test_days']:g} days", header, "-" * len(header)]
    rows = report["windows"]
    assert isinstance(rows, list)
    for r in rows:
        i, o, d = r["in_sample"], r["out_of_sample"], r["defaults_out_of_sample"]
        sharpe_i = "-" if i["sharpe"] is None else f"{i['sharpe']:.2f}"
        sharpe_o = "-" if o["sharpe"] is None else f"{o['sharpe']:.2f}"
        flag = "  over-fit" if r["overfit"] else ""
        train = f"{r['train_from'][:10]}..{r['train_to'][:10]}"
        test = f"{r['test_from'][:10]}..{r['test_to'][:10]}"
        lines.append(
            f"{r['window']:>3}  {train}  {test}  {i['trades']:>9}{_pct(i['total_return']):>10}{sharpe_i:>10}"
            f"{o['trades']:>11}{_pct(o['total_return']):>11}{sharpe_o:>11}{_pct(d['total_return']):>13}{flag}"
        )
    lines.append(
        f"out-of-sample, all windows compounded: {_pct(float(report['out_of_sample_return']))} "
        f"({_pct(float(report['out_of_sample_annualised_return']))} a year; in-sample "
        f"{_pct(float(report['in_sample_annualised_return']))} a year); the defaults: "
        f"{_pct(float(report['defaults_out_of_sample_return']))}"
    )
    if report["warning"]:
        lines.append(f"WARNING: {report['warning']}")
    lines.append(f"{report['trials']} trials in {report['seconds']} s ({report['trials_per_minute']} a minute)")
    lines.append("chosen values (the most recent window's), as .env lines:")
    lines.extend(report["env"])
    return "\n".join(lines)


# ---- the command ----------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="a folder of PAIR_TF.csv(.gz) candle files")
    parser.add_argument("--pairs", default="", help="comma-separated pairs (default: all)")
    parser.add_argument("--timeframe", default="1h", help="candle length as in the file names: 1h, 15m, 1d")
    parser.add_argument("--variant", default=None, help="file variant when a pair has several, e.g. cdd")
    parser.add_argument("--trials", type=int, default=100, help="optuna trials per walk-forward window (1 or more)")
    parser.add_argument("--balance", type=float, default=1000.0, help="starting balance in USD")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.trials < 1:
        print(f"--trials {args.trials}: expected 1 or more", file=sys.stderr)
        return 2
    if args.balance <= 0:
        print(f"--balance {args.balance}: expected a positive USD amount", file=sys.stderr)
        return 2
    try:
        candle_seconds = timeframe_seconds(args.timeframe)
        pairs = [p for p in args.pairs.split(",") if p.strip()] or None
        files = find_files(args.data, args.timeframe, pairs, args.variant)
        frames = {f.pair: read_candles(f.path) for f in files}
        rules = market_rules(exchange_for(args.data, settings.backtest), settings)
        report = walk_forward(frames, settings, rules, candle_seconds=candle_seconds, trials=args.trials,
                              balance=args.balance, progress=not args.json and sys.stderr.isatty())
    except DataError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else format_walk_forward(report))
    return 0
