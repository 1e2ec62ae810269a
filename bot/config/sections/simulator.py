"""The exchange simulator's own numbers (fees, spread, slippage, rate tiers): paper mode and tests."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.config.sections.base import SettingsSection


class SimulatorSettings(SettingsSection):
    sim_taker_fee: float = Field(0.0026, ge=0, lt=0.1, description="a fraction, e.g. 0.0026 for 0.26 %")
    sim_maker_fee: float = Field(0.0016, ge=0, lt=0.1, description="a fraction, e.g. 0.0016 for 0.16 %")
    sim_half_spread: float = Field(
        0.0002, ge=0, lt=0.05, description="half the bid/ask spread as a fraction of the price, e.g. 0.0002"
    )
    sim_slippage_per_10k: float = Field(
        0.0005, ge=0, lt=0.1, description="extra price impact per 10,000 USD of order value, as a fraction"
    )
    sim_max_slippage: float = Field(0.01, ge=0, lt=0.5, description="cap of the price impact, as a fraction")
    sim_kraken_rate_tier: Literal["Starter", "Intermediate", "Pro"] = Field(
        "Intermediate", description="Starter, Intermediate or Pro: the rate-counter tier of simulated Kraken keys"
    )
    sim_alpaca_fill_delay_seconds: float = Field(
        1.0, ge=0, le=3600,
        description="simulated seconds between Alpaca accepting a market order (pending_new) and filling it (0-3600)",
    )
    sim_kraken_fill_delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="simulated seconds before a Kraken market order fills (0-3600, 0: at once)"
    )
    sim_coinbase_fill_delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="simulated seconds before a Coinbase market order fills (0-3600, 0: at once)"
    )
    sim_fill_wall_cap_seconds: float = Field(
        0.5, gt=0, le=3600,
        description="real seconds after which an accepted order fills even while the simulated clock stands still",
    )
    sim_alpaca_partial_fill_above_usd: float = Field(
        25_000.0, gt=0, le=1e9,
        description="USD: larger Alpaca market orders fill in two parts (partially_filled in between), above 0",
    )
    sim_public_port: int = Field(
        0, ge=0, le=65535, description="first TCP port of `python -m bot.sim` (0 = any free port)"
    )
