"""Seeded fault injection, set per test: latency, 5xx, hangs, lost acknowledgements, forced errors.

The plan only decides *whether* a fault happens to a request; each face decides what it looks like
in its own protocol (a Kraken error string in a 200, a Coinbase JSON error, a dropped socket, ...).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultRule:
    face: str | None = None  # None: every face
    endpoint: str | None = None  # None: every endpoint of the face(s)
    latency: float = 0.0  # real seconds added before the request is handled
    http_5xx_rate: float = 0.0  # fraction answered with a 5xx before anything is executed
    hang_rate: float = 0.0  # fraction executed, then answered only after hang_seconds (past the client timeout)
    hang_seconds: float = 0.0
    drop_after_execute_rate: float = 0.0  # fraction executed, then the connection is closed without an answer
    forced_error: str | None = None  # an exchange error string answered instead of executing
    error_rate: float = 1.0  # fraction of requests that get forced_error

    def specificity(self) -> int:
        return (self.face is not None) + 2 * (self.endpoint is not None)


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request. Falsy fields mean: no such fault."""

    latency: float = 0.0
    http_5xx: bool = False
    hang_seconds: float = 0.0  # > 0: execute, then hold the answer this long
    drop_after_execute: bool = False
    error: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.latency or self.http_5xx or self.hang_seconds or self.drop_after_execute or self.error)


NO_FAULT = FaultDecision()


class FaultPlan:
    """Rules keyed by (face, endpoint); the most specific matching rule decides. Draws come from one seeded RNG."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: dict[tuple[str | None, str | None], FaultRule] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}  # how many of each fault were injected (for tests to check)

    def set(self, face: str | None = None, endpoint: str | None = None, **fields: object) -> FaultRule:
        """Add (or replace) the rule for (face, endpoint); fields are FaultRule's."""
        rule = FaultRule(face=face, endpoint=endpoint, **fields)  # type: ignore[arg-type]
        with self._lock:
            self._rules[(face, endpoint)] = rule
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._random = random.Random(seed)

    def decide(self, face: str, endpoint: str) -> FaultDecision:
        if not self._rules:  # the common case: no lock, no draw
            return NO_FAULT
        with self._lock:
            matching = [
                r for r in self._rules.values()
                if (r.face is None or r.face == face) and (r.endpoint is None or r.endpoint == endpoint)
            ]
            if not matching:
                return NO_FAULT
            rule = max(matching, key=FaultRule.specificity)
            draw = self._random.random
            error = rule.forced_error if rule.forced_error and draw() < rule.error_rate else None
            http_5xx = not error and draw() < rule.http_5xx_rate
            executes = not error and not http_5xx
            drop = executes and draw() < rule.drop_after_execute_rate
            hang = rule.hang_seconds if executes and not drop and draw() < rule.hang_rate else 0.0
            decision = FaultDecision(rule.latency, http_5xx, hang, drop, error)
            for name, hit in (("error", error), ("http_5xx", http_5xx), ("drop", drop), ("hang", hang)):
                if hit:
                    self.counts[name] = self.counts.get(name, 0) + 1
            return decision
