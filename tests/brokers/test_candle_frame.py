"""One builder for every venue's candles: typed columns straight from the answer's rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bot.candles import CANDLE_COLUMNS, candle_frame, empty_candles


def test_rows_of_numbers_or_numeric_strings_become_int64_times_and_float64_prices() -> None:
    frame = candle_frame([(1_700_000_000, "1.5", "2.25", "1.0", "2.0", "10"), (1_700_000_900.0, 2, 3, 1.5, 2.5, 0.125)])
    assert list(frame.columns) == list(CANDLE_COLUMNS)
    assert frame["time"].dtype == np.int64 and all(frame[c].dtype == np.float64 for c in CANDLE_COLUMNS[1:])
    assert frame["time"].tolist() == [1_700_000_000, 1_700_000_900]
    assert frame.iloc[0].tolist()[1:] == [1.5, 2.25, 1.0, 2.0, 10.0]
    assert frame.iloc[1].tolist()[1:] == [2.0, 3.0, 1.5, 2.5, 0.125]
    for name in CANDLE_COLUMNS[1:]:  # each column its own contiguous array: the indicators read them whole
        assert frame[name].to_numpy().flags["C_CONTIGUOUS"]


def test_no_rows_is_the_empty_frame_with_the_same_columns_and_types() -> None:
    pd.testing.assert_frame_equal(candle_frame([]), empty_candles())
    assert candle_frame([]).dtypes.to_dict() == empty_candles().dtypes.to_dict()


def test_a_missing_value_is_nan_not_an_error() -> None:
    frame = candle_frame([(1_700_000_000, 1.0, 1.0, 1.0, 1.0, None)])
    assert np.isnan(frame["volume"].iloc[0])
