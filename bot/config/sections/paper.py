"""Paper mode and the embedded exchange simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from bot.config.sections.base import SettingsSection


class PaperSettings(SettingsSection):
    sim_seed: int = Field(42, ge=0, le=2**32 - 1, description="a whole number from 0 to 4294967295 seeding the "
                          "synthetic market")
    sim_speed: float = Field(
        600.0, gt=0, le=100_000, description="simulated seconds per real second (0-100000)"
    )
    sim_markets: int = Field(24, ge=1, le=1000, description="synthetic markets (1-1000)")
    sim_data_dir: Path | None = Field(None, description="a directory of candle CSV(.gz) files to replay")
    paper_master_balance: float = Field(10_000.0, gt=0, le=1e9, description="USD (0-1,000,000,000)")
    paper_follower_balances: tuple[Annotated[float, Field(gt=0, le=1e9)], ...] = Field(
        (2_500.0, 400.0), description="a comma-separated list of USD balances (each 0-1,000,000,000), e.g. 2500,400"
    )
    # 15, not live's 5: at 600x a 5-minute candle lasts half a real second, and scanning every market on every one
    # of them kept a core 14 % busy; 15-minute candles give 6 % and still a demo trade every few seconds.
    paper_candle_minutes: int = Field(15, ge=1, le=1440, description="candle length in minutes in paper mode (1-1440)")
    paper_min_pass_real_seconds: float = Field(
        0.25, ge=0, le=60, description="real seconds (0-60): paper mode spaces each account's passes at least this "
        "far apart, so a fast simulated clock does not spend the CPU on guard passes",
    )
    paper_master_offline_real_seconds: float = Field(
        10.0, ge=0, le=3_600, description="real seconds (0-3600): in paper mode a master counts as offline only after "
        "MASTER_OFFLINE_SECONDS or this much real time, whichever is longer",
    )
