"""Our vectorised indicators against `ta` 0.11's own output, column by column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta

from bot.config.sections.strategy import StrategySettings
from bot.strategy.indicators import INDICATOR_COLUMNS, compute_indicators, indicator_block


def ta_reference(candles: pd.DataFrame, s: StrategySettings) -> dict[str, pd.Series]:
    high, low, close = candles["high"], candles["low"], candles["close"]
    adx = ta.trend.ADXIndicator(high, low, close, s.adx_period).adx()
    atr = ta.volatility.AverageTrueRange(high, low, close, s.atr_period).average_true_range()
    # ta fills its warm-up with 0 where we (deliberately) have NaN: compare from the first real value.
    adx.iloc[: 2 * s.adx_period - 1] = np.nan
    atr.iloc[: s.atr_period - 1] = np.nan
    return {
        "rsi_fast": ta.momentum.RSIIndicator(close, s.rsi_fast_period).rsi(),
        "rsi_slow": ta.momentum.RSIIndicator(close, s.rsi_slow_period).rsi(),
        "ema_fast": ta.trend.EMAIndicator(close, s.ema_fast_period).ema_indicator(),
        "ema_mid": ta.trend.EMAIndicator(close, s.ema_mid_period).ema_indicator(),
        "ema_slow": ta.trend.EMAIndicator(close, s.ema_slow_period).ema_indicator(),
        "macd_hist": ta.trend.MACD(close, s.macd_slow_period, s.macd_fast_period, s.macd_signal_period).macd_diff(),
        "atr": atr,
        "adx": adx,
        "volume_avg": candles["volume"].rolling(s.volume_avg_period).mean(),
    }


def assert_matches_ta(candles: pd.DataFrame, s: StrategySettings) -> None:
    ours = compute_indicators(candles, s)
    for name, expected in ta_reference(candles, s).items():
        np.testing.assert_allclose(
            ours[name].to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name
        )


def test_every_indicator_matches_ta_on_real_candles(eth_1h: pd.DataFrame, settings: StrategySettings) -> None:
    assert_matches_ta(eth_1h.iloc[:1500].reset_index(drop=True), settings)


def test_matches_ta_with_other_periods(sol_1h: pd.DataFrame) -> None:
    s = StrategySettings(rsi_fast_period=5, rsi_slow_period=21, atr_period=7, adx_period=10, ema_slow_period=30)
    assert_matches_ta(sol_1h.iloc[3000:3400].reset_index(drop=True), s)


def test_matches_ta_on_flat_and_one_way_stretches(settings: StrategySettings) -> None:
    """Zero ranges and zero losses: the division-by-zero conventions (RSI 100, DI 0, DX 0) are ta's."""
    rng = np.random.default_rng(7)
    close = np.concatenate([np.full(40, 100.0), 100 + np.cumsum(rng.uniform(0.1, 1.0, 60)), np.full(30, 130.0)])
    spread = np.where(np.arange(close.size) < 40, 0.0, 0.5)
    candles = pd.DataFrame(
        {"time": np.arange(close.size) * 60, "open": close, "high": close + spread, "low": close - spread,
         "close": close, "volume": rng.uniform(1, 2, close.size)}
    )
    assert_matches_ta(candles, settings)


def test_block_of_many_markets_equals_one_by_one(eth_1h: pd.DataFrame, sol_1h: pd.DataFrame,
                                                 settings: StrategySettings) -> None:
    """A wide block (the live scan of many markets) runs a row-wise path; it must give the same bits."""
    frames = [eth_1h.iloc[i * 150 : i * 150 + 120].reset_index(drop=True) for i in range(9)]
    frames.append(sol_1h.iloc[500:620].reset_index(drop=True))
    frames.append(pd.DataFrame({"time": np.arange(120), **{c: np.full(120, 5.0) for c in
                                                           ("open", "high", "low", "close", "volume")}}))
    block = indicator_block(*(np.column_stack([f[c].to_numpy() for f in frames]) for c in
                              ("high", "low", "close", "volume")), settings)
    for col, frame in enumerate(frames):
        single = compute_indicators(frame, settings)
        for name in INDICATOR_COLUMNS:
            np.testing.assert_array_equal(block[name][:, col], single[name].to_numpy(), err_msg=name)


def test_compute_indicators_leaves_its_input_alone(eth_1h: pd.DataFrame, settings: StrategySettings) -> None:
    frame = eth_1h.iloc[:200].copy()
    before = frame.copy()
    out = compute_indicators(frame, settings)
    pd.testing.assert_frame_equal(frame, before)
    assert set(INDICATOR_COLUMNS) <= set(out.columns)


@pytest.mark.parametrize("rows", [1, 5, 14, 27])
def test_short_series_give_nan_not_errors(eth_1h: pd.DataFrame, settings: StrategySettings, rows: int) -> None:
    out = compute_indicators(eth_1h.iloc[:rows], settings)
    assert len(out) == rows
    assert out["adx"].isna().all()  # ADX needs 2 x 14 - 1 = 27 candles before its first value
    assert out["ema_slow"].isna().all()
