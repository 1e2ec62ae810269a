"""Notifications through Apprise (issue 12): one setting with the URLs, a queue, one sender thread.

NOTIFY_URLS carries the services' tokens, so it is a secret: environment only, redacted from logs.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from bot.config.sections.base import SettingsSection


class NotifySettings(SettingsSection):
    notify_urls: SecretStr | None = Field(
        None, description="one or more Apprise URLs separated by spaces or commas (tgram://..., discord://..., "
        "mailto://..., json://host/path); unset sends nothing",
    )
    notify_poll_seconds: float = Field(
        2.0, ge=0.1, le=300, description="real seconds between two looks at the store for news (0.1-300)"
    )
    notify_batch_seconds: float = Field(
        3.0, ge=0, le=300, description="real seconds a burst of news is gathered into one message (0-300)"
    )
    notify_queue_size: int = Field(
        1000, ge=10, le=100_000, description="messages waiting to be sent before the oldest are dropped (10-100000)"
    )
    notify_flush_seconds: float = Field(
        3.0, ge=0, le=60, description="real seconds the stop waits for the last messages to go out (0-60)"
    )
    notify_daily_summary_hour: int = Field(
        0, ge=-1, le=23, description="UTC hour (0-23) at which the day's summary is sent, or -1 for none"
    )
