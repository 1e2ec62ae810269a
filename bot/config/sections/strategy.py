"""APEX strategy thresholds (docs/rules.md §4). Fractions are fractions (0.01 = 1 %), never percents.

Why each default is what it is: docs/strategy.md. None was fitted to the shared candle files; the walk-forward
tuner (`python bot.py optimize`) is the place to search them, out of sample.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.sections.base import SettingsSection


class StrategySettings(SettingsSection):
    candle_minutes: int = Field(5, ge=1, le=1440, description="candle length in minutes (1-1440)")
    candle_count: int = Field(100, ge=60, le=720, description="candles fetched per market (60-720)")
    candle_retry_seconds: float = Field(
        20.0, gt=0, le=3_600,
        description="seconds (0-3600) before asking again when the exchange has not yet published the last candle",
    )

    rsi_fast_period: int = Field(9, ge=2, le=500, description="a period from 2 to 500")
    rsi_slow_period: int = Field(14, ge=2, le=500, description="a period from 2 to 500")
    ema_fast_period: int = Field(9, ge=2, le=500, description="a period from 2 to 500")
    ema_mid_period: int = Field(21, ge=2, le=500, description="a period from 2 to 500")
    ema_slow_period: int = Field(50, ge=2, le=500, description="a period from 2 to 500")
    macd_fast_period: int = Field(12, ge=2, le=500, description="a period from 2 to 500")
    macd_slow_period: int = Field(26, ge=2, le=500, description="a period from 2 to 500")
    macd_signal_period: int = Field(9, ge=2, le=500, description="a period from 2 to 500")
    atr_period: int = Field(14, ge=2, le=500, description="a period from 2 to 500")
    adx_period: int = Field(14, ge=2, le=500, description="a period from 2 to 500")
    volume_avg_period: int = Field(20, ge=2, le=500, description="a period from 2 to 500")

    adx_min: float = Field(18.0, ge=0, le=100, description="an ADX level from 0 to 100")
    adx_strong: float = Field(25.0, ge=0, le=100, description="an ADX level from 0 to 100")
    rsi_oversold: float = Field(30.0, gt=0, lt=100, description="an RSI level between 0 and 100")
    rsi_oversold_lookback: int = Field(3, ge=1, le=50, description="a number of candles (1-50)")
    rsi_oversold_window: Literal["through_signal", "before_signal"] = Field(
        "through_signal",
        description="through_signal (the lookback candles ending with the signal candle, t-N+1..t) or "
        "before_signal (the N candles before it, t-N..t-1)",
    )
    rsi_slow_max: float = Field(50.0, gt=0, lt=100, description="an RSI level between 0 and 100")
    rsi_overbought: float = Field(70.0, gt=0, lt=100, description="an RSI level between 0 and 100")
    volume_min_ratio: float = Field(0.5, ge=0, le=100, description="a ratio of last volume to its average (0-100)")
    ema_mid_proximity: float = Field(0.01, ge=0, lt=1, description="a fraction of price, e.g. 0.01 for 1 %")
    min_confidence: float = Field(
        0.75, ge=0, le=1, description="a confidence from 0 to 1: the mean strength of the four confirmations"
    )

    stop_atr_multiple: float = Field(1.5, gt=0, le=50, description="an ATR multiple (0-50)")
    stop_min_fraction: float = Field(0.008, gt=0, lt=1, description="a fraction of entry, e.g. 0.008 for 0.8 %")
    stop_max_fraction: float = Field(0.05, gt=0, lt=1, description="a fraction of entry, e.g. 0.05 for 5 %")
    fee_margin: float = Field(
        0.002, ge=0, lt=0.1,
        description="a fraction of price, e.g. 0.002: how far the stop floor and the first target must clear "
        "the round-trip taker fees",
    )
    first_target_r: float = Field(1.0, gt=0, le=100, description="a multiple of the initial risk R (0-100)")
    first_target_sell_fraction: float = Field(0.5, gt=0, le=1, description="a fraction of the position (0-1]")
    second_target_r: float = Field(2.0, gt=0, le=100, description="a multiple of the initial risk R (0-100)")
    trail_atr_multiple: float = Field(1.5, gt=0, le=50, description="an ATR multiple (0-50)")
    max_hold_hours: float = Field(24.0, gt=0, le=8_760, description="hours (0-8760, a year)")

    risk_per_trade: float = Field(0.0025, gt=0, lt=1, description="a fraction of equity, e.g. 0.0025 for 0.25 %")
    position_min_fraction: float = Field(0.02, gt=0, le=1, description="a fraction of equity, e.g. 0.02")
    position_max_fraction: float = Field(0.10, gt=0, le=1, description="a fraction of equity, e.g. 0.10")

    market_quote_currencies: tuple[str, ...] = Field(
        ("USD",), description="a comma-separated list of quote currencies, e.g. USD,USDT"
    )
    min_volume_24h_quote: float = Field(
        0.0, ge=0, le=1e12, description="minimum 24 h traded value in the quote currency (0-1e12)"
    )
