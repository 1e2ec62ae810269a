"""Shared test fixtures: where the real candle data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = (Path(__file__).resolve().parent.parent.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data (real historical candles); the tests read them in place, never copy them."""
    if not DATA_DIR.is_dir():
        pytest.fail(f"candle data not found at {DATA_DIR}: the repository expects ../shared/data beside it")
    return DATA_DIR
