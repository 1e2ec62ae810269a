"""Paper mode and the embedded exchange simulator."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class PaperSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sim_seed: int = Field(42, description="a whole number seeding the synthetic market")
    sim_speed: float = Field(
        600.0, gt=0, description="simulated seconds per real second, above 0"
    )
    sim_markets: int = Field(24, ge=1, le=1000, description="synthetic markets (1-1000)")
    sim_data_dir: Path | None = Field(None, description="a directory of candle CSV(.gz) files to replay")
    paper_master_balance: float = Field(10_000.0, gt=0, description="USD, above 0")
    paper_follower_balances: tuple[float, ...] = Field(
        (2_500.0, 400.0), description="a comma-separated list of USD balances, e.g. 2500,400"
    )
    paper_candle_minutes: int = Field(5, ge=1, le=1440, description="candle length in minutes in paper mode")
    paper_min_pass_real_seconds: float = Field(
        0.25, ge=0, description="real seconds, 0 or more: paper mode spaces each account's passes at least this far "
        "apart, so a fast simulated clock does not spend the CPU on guard passes",
    )
    paper_master_offline_real_seconds: float = Field(
        10.0, ge=0, description="real seconds, 0 or more: in paper mode a master counts as offline only after "
        "MASTER_OFFLINE_SECONDS or this much real time, whichever is longer",
    )
