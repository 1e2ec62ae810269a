"""Simulated time that runs `speed` times faster than real time (paper mode), from a chosen start."""

from __future__ import annotations

import threading
import time


class SimClock:
    """bot.clock.Clock whose seconds pass `speed` times faster than real ones.

    Monotonic underneath, so a wall-clock jump on the host never moves simulated time backwards.
    """

    def __init__(self, start: float, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"SimClock speed must be above 0, got {speed}")
        self.start = float(start)
        self.speed = float(speed)
        self._origin = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._origin) * self.speed

    def real_seconds(self, simulated_seconds: float) -> float:
        """How long `simulated_seconds` take in real time."""
        return max(0.0, simulated_seconds) / self.speed

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        real = self.real_seconds(seconds)
        if stop is None:
            time.sleep(real)
            return False
        return stop.wait(real)
