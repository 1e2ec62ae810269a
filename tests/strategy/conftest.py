"""Real candles for the strategy tests (read in place from ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bot.backtest.data import read_candles
from bot.config.sections.strategy import StrategySettings


@pytest.fixture(scope="session")
def settings() -> StrategySettings:
    return StrategySettings()


@pytest.fixture(scope="session")
def eth_1h(data_dir: Path) -> pd.DataFrame:
    return read_candles(data_dir / "coinbase" / "ETH-USD_1h.csv.gz")


@pytest.fixture(scope="session")
def sol_1h(data_dir: Path) -> pd.DataFrame:
    return read_candles(data_dir / "coinbase" / "SOL-USD_1h.csv.gz")
