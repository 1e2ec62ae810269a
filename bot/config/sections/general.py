"""Switches and limits that apply to the whole bot (docs/rules.md §2)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field

from bot.config.sections.base import SettingsSection


class CopyTradingMode(StrEnum):
    MASTER_FOLLOW = "MASTER_FOLLOW"  # users with copy_from_master follow their brokerage's master
    INDEPENDENT = "INDEPENDENT"  # every funded user runs APEX itself


class GeneralSettings(SettingsSection):
    live_trading: bool = Field(False, description="'true' to trade live; anything else is paper")
    copy_trading_mode: CopyTradingMode = Field(
        CopyTradingMode.MASTER_FOLLOW, description="MASTER_FOLLOW or INDEPENDENT"
    )
    copy_observe_only: bool = Field(False, description="true or false")
    entry_blocking: bool = Field(False, description="true or false")
    max_user_risk: float = Field(
        0.10, gt=0, le=1, description="a fraction of follower equity between 0 (exclusive) and 1"
    )
    minimum_funded_balance: float = Field(0.50, ge=0, le=1_000_000, description="a USD amount from 0 to 1,000,000")
    max_concurrent_positions: int = Field(8, ge=1, le=100, description="a whole number from 1 to 100")
    state_dir: Path = Field(
        Path("state"), description="a directory path", json_schema_extra={"env": "NIJA_STATE_DIR"}
    )
    database_url: str | None = Field(
        None, description="sqlite:///PATH (SQLite is the supported store), or unset for NIJA_STATE_DIR/nija.sqlite3"
    )
    users_dir: Path = Field(
        Path("config/users"),
        description="a directory of user account JSON files",
        json_schema_extra={"env": "NIJA_USERS_DIR"},
    )
    user_file_max_bytes: int = Field(
        1_048_576, ge=1_024, le=104_857_600, description="bytes a config/users file may have (1024-104857600)"
    )
    user_file_max_depth: int = Field(
        20, ge=3, le=100, description="how deeply a config/users file may nest lists and objects (3-100)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR"
    )
    log_file: Path | None = Field(
        None, description="a file to write the log to as well, rotated by size (relative paths are taken from the "
        "project folder), or unset for the console only",
    )
    log_file_max_bytes: int = Field(
        10_485_760, ge=10_000, le=1_073_741_824, description="bytes before the log file is rotated (10000-1073741824)"
    )
    log_file_backups: int = Field(5, ge=0, le=100, description="rotated log files kept (0-100)")
    cash_assets: tuple[str, ...] = Field(
        ("USD", "USDT", "USDC"),
        description="a comma-separated list of assets counted as cash, e.g. USD,USDT",
    )

    @property
    def copies_masters(self) -> bool:
        """The one comparison of COPY_TRADING_MODE: whether followers copy their brokerage's master."""
        return self.copy_trading_mode is CopyTradingMode.MASTER_FOLLOW
