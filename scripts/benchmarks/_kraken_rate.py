"""A Kraken rate counter nothing fills, on the simulator's side and in the adapters' limiter.

The throughput, nonce and fan-out benchmarks make far more private calls within seconds than Kraken's
counter allows; they measure something else, so neither side may make them wait for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.sim.server import SimulatorServer

UNLIMITED_RATE = 1e9  # the ceiling the settings accept for KRAKEN_RATE_COUNTER_MAX and KRAKEN_RATE_DECAY_PER_SECOND
UNLIMITED_KRAKEN_RATE: dict[str, str] = {  # the adapters' side, as settings
    "KRAKEN_RATE_COUNTER_MAX": f"{UNLIMITED_RATE:.0f}",
    "KRAKEN_RATE_DECAY_PER_SECOND": f"{UNLIMITED_RATE:.0f}",
}


def unlimit_key(server: SimulatorServer, api_key: str) -> None:
    """The simulated Kraken's counter for this key never fills."""
    server.face("kraken").set_rate_limit(api_key, UNLIMITED_RATE, UNLIMITED_RATE)  # type: ignore[attr-defined]
