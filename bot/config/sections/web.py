"""The operator's cockpit: the dashboard and REST API served by the running bot, and its heartbeat (issue 12).

The token is a secret: it comes only from the environment, is never printed, and is compared in
constant time. Binding to any address other than loopback needs it.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from bot.config.sections.base import SettingsSection


class WebSettings(SettingsSection):
    web_enabled: bool = Field(True, description="true or false: serve the dashboard, API and /metrics from the bot")
    web_host: str = Field(
        "127.0.0.1", min_length=1,
        description="the address to listen on; anything but 127.0.0.1/localhost/::1 needs WEB_TOKEN",
    )
    web_port: int = Field(8080, ge=0, le=65535, description="a TCP port 1-65535, or 0 for any free port")
    web_token: SecretStr | None = Field(
        None, description="a token of 16 or more characters: needed for the controls and for any non-loopback "
        "WEB_HOST (send it as 'Authorization: Bearer TOKEN', or as the password of HTTP basic auth)",
    )
    web_refresh_seconds: float = Field(
        2.0, ge=0.5, le=60, description="seconds between the dashboard's checks for new data (0.5-60)"
    )
    store_heartbeat_seconds: float = Field(
        5.0, ge=0.5, le=300,
        description="real seconds between the running bot's heartbeats in the store, which `status` reads (0.5-300)",
    )
    healthz_stuck_seconds: float = Field(
        600.0, gt=0, le=86_400,
        description="real seconds one pass of an account thread may run before /healthz calls it stuck (0-86400)",
    )
    equity_sample_seconds: float = Field(
        300.0, gt=0, le=86_400,
        description="seconds of bot time between two points of an account's equity curve (0-86400)",
    )
    equity_curve_points: int = Field(
        600, ge=50, le=20_000,
        description="most points an account page's equity curve draws; a longer history is thinned evenly (50-20000)",
    )
