"""Finding and reading candle files: gzip or plain CSV `time,open,high,low,close,volume`,
named PAIR_TF[-variant].csv[.gz]."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bot.candles import CANDLE_COLUMNS

_NAME = re.compile(r"^(?P<pair>[A-Za-z0-9]+-[A-Za-z0-9]+)_(?P<tf>\d+[mhdw])(?P<variant>-[^.]+)?\.csv(\.gz)?$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


class DataError(ValueError):
    """A data folder or file the backtester cannot use; the message names it and what is expected."""


def timeframe_seconds(timeframe: str) -> int:
    """'1h' -> 3600, '15m' -> 900, '1d' -> 86400."""
    match = re.fullmatch(r"(\d+)([mhdw])", timeframe.strip())
    if not match or int(match.group(1)) <= 0:
        raise DataError(f"--timeframe {timeframe!r}: expected a number and a unit m, h, d or w, like 1h or 15m")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class CandleFile:
    pair: str
    timeframe: str
    variant: str  # "" for PAIR_TF.csv.gz, else the part after the dash ("cdd", "ohlcvt")
    path: Path


def find_files(
    data_dir: Path, timeframe: str, pairs: list[str] | None = None, variant: str | None = None
) -> list[CandleFile]:
    """One file per pair for this timeframe.

    The plain PAIR_TF file wins; a pair that only has variants (PAIR_TF-cdd...) uses its only variant, or the
    one named by `variant`; two variants and no choice is an error naming both, never a silent pick.
    """
    if not data_dir.is_dir():
        raise DataError(f"--data {data_dir}: not a directory of candle CSV files")
    found: dict[str, list[CandleFile]] = {}
    for path in sorted(data_dir.iterdir()):
        match = _NAME.match(path.name)
        if not match or match.group("tf") != timeframe:
            continue
        pair = match.group("pair").upper()
        found.setdefault(pair, []).append(
            CandleFile(pair, timeframe, (match.group("variant") or "").lstrip("-"), path)
        )
    if pairs:
        wanted = [p.strip().upper() for p in pairs]
    else:  # every pair that has a file of this variant (all pairs when no variant is named)
        wanted = sorted(p for p, files in found.items() if variant is None or any(f.variant == variant for f in files))
    chosen: list[CandleFile] = []
    for pair in wanted:
        files = found.get(pair, [])
        if variant is not None:
            files = [f for f in files if f.variant == variant]
        elif any(f.variant == "" for f in files):
            files = [f for f in files if f.variant == ""]
        if not files:
            raise DataError(f"--data {data_dir}: no {timeframe} file for {pair} (expected {pair}_{timeframe}.csv.gz)")
        if len(files) > 1:
            names = ", ".join(f.path.name for f in files)
            raise DataError(
                f"--data {data_dir}: several {timeframe} files for {pair} ({names}); choose one with --variant"
            )
        chosen.append(files[0])
    if not chosen:
        raise DataError(f"--data {data_dir}: no *_{timeframe}.csv(.gz) candle files found")
    return chosen


def read_candles(path: Path) -> pd.DataFrame:
    """Candles ascending by time, duplicates dropped; one clear error naming the file when columns are missing."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path}: cannot read candles ({error})") from None
    missing = [c for c in CANDLE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected {','.join(CANDLE_COLUMNS)}")
    frame = frame[list(CANDLE_COLUMNS)].dropna()
    frame = frame.drop_duplicates("time").sort_values("time", kind="stable").reset_index(drop=True)
    frame["time"] = frame["time"].astype("int64")
    return frame.astype({c: "float64" for c in CANDLE_COLUMNS[1:]})
