"""What the console shows while the bot runs (docs/rules.md §3)."""

from __future__ import annotations

from pydantic import Field

from bot.config.sections.base import SettingsSection


class ConsoleSettings(SettingsSection):
    heartbeat_seconds: float = Field(
        10.0, ge=1, le=3_600,
        description="real seconds between the console's status lines, one per brokerage (1-3600; 15 at most keeps "
        "a silent screen from looking dead)",
    )
