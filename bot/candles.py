"""The candle frame every layer speaks: brokers return it, candle files hold it, the strategy reads it.

`time` is the candle's open time in unix seconds; rows ascend by time. A module of its own, importing nothing
of the bot, so that reading and downloading candle files (the backtest) does not import the broker layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

CANDLE_COLUMNS = ("time", "open", "high", "low", "close", "volume")


def empty_candles() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="float64") for name in CANDLE_COLUMNS}).astype({"time": "int64"})


def candle_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Candles from (time, open, high, low, close, volume) rows, oldest first; numbers or numeric strings.

    Built from typed arrays: a paper bot rebuilds two dozen frames every simulated candle, and a frame
    built from lists and then cast (``astype``) cost five times as much CPU."""
    if not rows:
        return empty_candles()
    times = np.fromiter((int(row[0]) for row in rows), dtype=np.int64, count=len(rows))
    values = np.array([row[1:6] for row in rows], dtype=np.float64).T.copy()  # one contiguous row per column
    columns = {"time": times, **{name: values[i] for i, name in enumerate(CANDLE_COLUMNS[1:])}}
    return pd.DataFrame(columns, copy=False)
