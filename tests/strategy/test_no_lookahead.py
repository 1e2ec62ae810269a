"""No look-ahead: the signal at candle t is the same whether or not later candles exist.

Signals are computed on prefixes of a real series and compared with the full-series
computation, row by row: indicators, every rule, confidence, stop and the entry flag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import evaluate_entry, signal_frame
from bot.strategy.indicators import INDICATOR_COLUMNS, compute_indicators

COMPARED = (*INDICATOR_COLUMNS, "confidence", "stop_price")


def full_signals(candles: pd.DataFrame, s: StrategySettings) -> pd.DataFrame:
    return signal_frame(compute_indicators(candles, s), s)


def assert_prefix_equal(full: pd.DataFrame, candles: pd.DataFrame, n: int, s: StrategySettings) -> None:
    prefix = full_signals(candles.iloc[:n], s)
    head = full.iloc[:n]
    for name in COMPARED:
        np.testing.assert_array_equal(prefix[name].to_numpy(), head[name].to_numpy(), err_msg=f"{name} at n={n}")
    np.testing.assert_array_equal(prefix["entry"].to_numpy(), head["entry"].to_numpy(), err_msg=f"entry at n={n}")


@pytest.fixture(scope="module")
def window(eth_1h: pd.DataFrame) -> pd.DataFrame:
    """400 real candles around a known ETH entry (row 2168 of the 1h file)."""
    return eth_1h.iloc[1950:2350].reset_index(drop=True)


def test_every_prefix_of_a_window_with_an_entry(window: pd.DataFrame, settings: StrategySettings) -> None:
    full = full_signals(window, settings)
    assert full["entry"].sum() >= 1, "the window must contain an entry for this test to mean anything"
    for n in range(2, len(window) + 1):
        assert_prefix_equal(full, window, n, settings)


def test_last_candle_evaluation_agrees_with_the_series(window: pd.DataFrame, settings: StrategySettings) -> None:
    """The live path (last closed candle) fires exactly where the backtester's whole-series path does."""
    full = full_signals(window, settings)
    fired = [n - 1 for n in range(60, len(window) + 1)
             if evaluate_entry("ETH-USD", compute_indicators(window.iloc[:n], settings), settings) is not None]
    assert fired == list(np.flatnonzero(full["entry"].to_numpy()[59:]) + 59)
    assert fired


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, 17_000), length=st.integers(30, 900), cut=st.floats(0.05, 1.0))
def test_prefix_property_anywhere_in_the_file(eth_1h: pd.DataFrame, start: int, length: int, cut: float) -> None:
    s = StrategySettings()
    candles = eth_1h.iloc[start : start + length].reset_index(drop=True)
    full = full_signals(candles, s)
    assert_prefix_equal(full, candles, max(2, int(len(candles) * cut)), s)


def test_a_future_spike_changes_nothing_before_it(window: pd.DataFrame, settings: StrategySettings) -> None:
    """Rewrite the future violently: every value before it must stay identical."""
    full = full_signals(window, settings)
    changed = window.copy()
    changed.loc[300:, ["open", "high", "low", "close"]] *= 3.0
    changed.loc[300:, "volume"] *= 50.0
    altered = full_signals(changed, settings)
    for name in COMPARED:
        np.testing.assert_array_equal(altered[name].to_numpy()[:300], full[name].to_numpy()[:300])
        # ...while the rewritten future itself did change (the test really moved something)
        assert not np.array_equal(altered[name].to_numpy()[300:], full[name].to_numpy()[300:], equal_nan=True)
