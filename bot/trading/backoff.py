"""Exponential, capped back-off after errors, so a failing exchange is asked less and less often."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config.sections.trader import TraderSettings


@dataclass(frozen=True)
class Backoff:
    """delay(n) = base x 2^(n-1), capped at max; no delay without errors."""

    base_seconds: float
    max_seconds: float

    @classmethod
    def from_settings(cls, s: TraderSettings) -> Backoff:
        return cls(s.backoff_base_seconds, s.backoff_max_seconds)

    def delay(self, consecutive_errors: int) -> float:
        if consecutive_errors <= 0:
            return 0.0
        # The exponent is bounded so a long outage cannot overflow the float before the cap applies.
        return min(self.max_seconds, self.base_seconds * 2.0 ** min(consecutive_errors - 1, 60))
