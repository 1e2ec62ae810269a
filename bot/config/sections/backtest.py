"""Backtester numbers: minimums per exchange, slippage, the simulated copy followers, walk-forward tuning.

Taker fees are the exchange settings' (KRAKEN_TAKER_FEE, COINBASE_TAKER_FEE, ALPACA_CRYPTO_TAKER_FEE): one set of
fee numbers for the backtest and live defaults. Minimums are the exchanges' public figures; live trading reads
them from each exchange's market list instead, the backtest has no exchange to ask.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.sections.base import SettingsSection


class BacktestSettings(SettingsSection):
    backtest_exchange: Literal["auto", "kraken", "coinbase", "alpaca"] = Field(
        "auto", description="auto (from the data folder's name), kraken, coinbase or alpaca"
    )
    backtest_kraken_min_notional: float = Field(
        0.5, ge=0, le=10_000, description="USD, the smallest order value (0-10000)"
    )
    backtest_coinbase_min_notional: float = Field(
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
    optimize_train_days: float = Field(
        180.0, ge=7, le=3_650, description="days of candles each walk-forward window trains on (7-3650)"
    )
    optimize_test_days: float = Field(
        60.0, ge=1, le=3_650, description="days each walk-forward window then tests on, unseen by its search (1-3650)"
    )
    optimize_seed: int = Field(
        42, ge=0, le=2**32 - 1, description="a whole number (0-4294967295) seeding the tuner: same seed, same result"
    )
    optimize_objective: Literal["sharpe", "return"] = Field(
        "sharpe", description="what the tuner maximises in-sample: sharpe (daily, annualised) or return"
    )
    optimize_min_trades: int = Field(
        3, ge=0, le=100_000, description="trades a training window needs before its result counts (0-100000)"
    )
    optimize_overfit_ratio: float = Field(
        0.5, ge=0, le=1,
        description="warn of over-fitting when out-of-sample earns less than this share of in-sample (0-1)",
    )
    download_retries: int = Field(
        3, ge=1, le=10, description="times download-data asks again after a transient error (1-10)"
    )
    download_retry_wait_seconds: float = Field(
        2.0, ge=0, le=60, description="seconds download-data waits before asking again, times the attempt (0-60)"
    )
