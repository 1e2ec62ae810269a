"""Backtester numbers: fees and minimums per exchange, slippage, and the simulated copy followers.

Fees and minimums are the exchanges' lowest-tier public figures (EXCHANGES.md); live trading
reads them from each exchange's market list instead, the backtest has no exchange to ask.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.sections.base import SettingsSection


class BacktestSettings(SettingsSection):
    backtest_exchange: Literal["auto", "kraken", "coinbase", "alpaca"] = Field(
        "auto", description="auto (from the data folder's name), kraken, coinbase or alpaca"
    )
    backtest_kraken_taker_fee: float = Field(0.0026, ge=0, lt=0.1, description="a fraction, e.g. 0.0026 for 0.26 %")
    backtest_coinbase_taker_fee: float = Field(0.006, ge=0, lt=0.1, description="a fraction, e.g. 0.006 for 0.6 %")
    backtest_alpaca_taker_fee: float = Field(0.0025, ge=0, lt=0.1, description="a fraction, e.g. 0.0025 for 0.25 %")
    backtest_kraken_min_notional: float = Field(
        0.5, ge=0, le=10_000, description="USD, the smallest order value (0-10000)"
    )
    backtest_coinbase_min_notional: float = Field(
        1.0, ge=0, le=10_000, description="USD, the smallest order value (0-10000)"
    )
    backtest_alpaca_min_notional: float = Field(
        1.0, ge=0, le=10_000, description="USD, the smallest order value (0-10000)"
    )
    backtest_base_decimals: int = Field(8, ge=0, le=12, description="lot decimals of base quantities (0-12)")
    backtest_slippage: float = Field(
        0.0005, ge=0, lt=0.1, description="a fraction of price lost on every fill, e.g. 0.0005 for 0.05 %"
    )
    backtest_follower_balance_ratio: float = Field(
        0.4, gt=0, le=10, description="follower i starts with balance x ratio^i (i = 1..N), e.g. 0.4"
    )
    backtest_follower_risk_multiplier: float = Field(
        1.0, gt=0, le=10, description="the simulated followers' risk_multiplier, above 0"
    )
