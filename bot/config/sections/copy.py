"""Copy-trading limits (docs/rules.md §5)."""

from __future__ import annotations

from pydantic import Field

from bot.config.sections.base import SettingsSection


class CopySettings(SettingsSection):
    master_offline_seconds: float = Field(
        600.0, gt=0, le=604_800,
        description="seconds without a master heartbeat before followers guard themselves (0-604800, a week)",
    )
    copy_max_parallel: int = Field(
        128, ge=1, le=1024, description="followers sent their orders at once (1-1024)"
    )
    copy_default_stop_fraction: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="a fraction below the follower's entry, e.g. 0.05, for copies whose master sent no stop",
    )
    copy_max_delay_seconds: float = Field(
        180.0, gt=0, le=3600,
        description="seconds after the master's fill within which an entry copy may still be placed (exits: always; "
        "above 0, at most 3600)",
    )
    copy_retry_seconds: float = Field(
        2.0, gt=0, le=600,
        description="seconds before a copy that hit a transient error is tried again, doubling each time (above 0, "
        "at most 600)",
    )
    copy_retry_max_seconds: float = Field(
        60.0, gt=0, le=3600,
        description="the longest wait between two tries of a copy, in seconds (above 0, at most 3600)",
    )
