"""The candle frame every layer speaks: brokers return it, candle files hold it, the strategy reads it.

`time` is the candle's open time in unix seconds; rows ascend by time. A module of its own, importing nothing,
so that reading candle files (the backtest) does not import the broker layer.
"""

from __future__ import annotations

CANDLE_COLUMNS = ("time", "open", "high", "low", "close", "volume")
