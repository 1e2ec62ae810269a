"""Thread cycles, start-up staggering, health, back-off and pacing by capital (docs/rules.md §3)."""

from __future__ import annotations

from pydantic import Field

from bot.config.sections.base import SettingsSection


class TraderSettings(SettingsSection):
    strategy_cycle_seconds: float = Field(
        150.0, gt=0, le=86_400, description="seconds between strategy scans (0-86400)"
    )
    thread_stagger_seconds: float = Field(10.0, ge=0, le=3_600, description="seconds between thread starts (0-3600)")
    first_wait_min_seconds: float = Field(30.0, ge=0, le=3_600, description="seconds (0-3600)")
    first_wait_max_seconds: float = Field(60.0, ge=0, le=3_600, description="seconds (0-3600)")
    recheck_interval_seconds: float = Field(
        300.0, gt=0, le=86_400, description="seconds between re-checks of unfunded or unreachable accounts (0-86400)"
    )
    backoff_base_seconds: float = Field(5.0, gt=0, le=3_600, description="seconds (0-3600)")
    backoff_max_seconds: float = Field(300.0, gt=0, le=86_400, description="seconds (0-86400)")
    degraded_after_errors: int = Field(3, ge=1, le=1_000, description="consecutive errors before 'degraded' (1-1000)")
    failed_after_errors: int = Field(10, ge=1, le=1_000, description="consecutive errors before 'failed' (1-1000)")
    health_window_passes: int = Field(
        20, ge=2, le=10_000, description="recent passes (and their exchange calls) health looks back over (2-10000)"
    )
    health_min_samples: int = Field(
        5, ge=1, le=10_000,
        description="passes (or calls) the window must hold before its shares decide (1-10000)",
    )
    health_degraded_share: float = Field(
        0.2, gt=0, lt=1,
        description="degraded when more than this fraction of the recent passes or calls failed (0-1, e.g. 0.2)",
    )
    health_failed_share: float = Field(
        0.8, gt=0, le=1,
        description="failed when at least this fraction of a full window of passes failed (0-1, e.g. 0.8)",
    )
    candle_stale_periods: float = Field(
        2.0, gt=0, le=1_000,
        description="candle periods after which a market's last candle counts as stale (0-1000)",
    )
    clock_skew_tolerance_seconds: float = Field(
        30.0, ge=0, le=86_400,
        description="seconds our clock may differ from the exchange's before it is named as the cause (0-86400)",
    )
    probe_attempts: int = Field(
        3, ge=1, le=20, description="times an account's exchange is probed before it is called UNREACHABLE (1-20)"
    )
    probe_retry_seconds: float = Field(
        1.0, ge=0, le=60, description="seconds between two probes of an exchange that did not answer (0-60)"
    )
    shutdown_timeout_seconds: float = Field(5.0, gt=0, le=300, description="seconds (0-300)")

    low_capital_equity: float = Field(
        100.0, ge=0, le=1_000_000, description="USD equity below which the low-capital pacing applies (0-1,000,000)"
    )
    low_capital_order_spacing_seconds: float = Field(
        3.0, ge=0, le=3_600, description="seconds between order actions (0-3600)"
    )
    low_capital_monitor_seconds: float = Field(
        30.0, gt=0, le=86_400, description="seconds between exit-monitoring passes (0-86400)"
    )
    order_spacing_seconds: float = Field(1.0, ge=0, le=3_600, description="seconds between order actions (0-3600)")
    monitor_seconds: float = Field(
        15.0, gt=0, le=86_400, description="seconds between exit-monitoring passes (0-86400)"
    )
