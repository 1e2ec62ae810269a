"""The per-signal copy summary of docs/rules.md §5, read from the outbox rows themselves (no mirror type)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.state.records import CopyRecord, CopyStatus, SignalRecord


@dataclass(frozen=True)
class CopySummary:
    """Followers processed, succeeded, skipped with reasons, failed with errors (and any still open)."""

    signal_id: str
    broker: str
    symbol: str
    side: str
    copies: tuple[CopyRecord, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, signal: SignalRecord, copies: Iterable[CopyRecord]) -> CopySummary:
        ordered = tuple(sorted(copies, key=lambda c: c.follower_id))
        return cls(signal.signal_id, signal.broker, signal.symbol, signal.side, ordered)

    def _with(self, status: CopyStatus) -> dict[str, str]:
        return {c.follower_id: c.reason for c in self.copies if c.status is status}

    @property
    def processed(self) -> int:
        return len(self.copies)

    @property
    def succeeded(self) -> int:
        return len(self._with(CopyStatus.FILLED))

    @property
    def observed(self) -> int:
        return len(self._with(CopyStatus.OBSERVED))

    @property
    def skipped(self) -> dict[str, str]:
        return self._with(CopyStatus.SKIPPED)

    @property
    def failed(self) -> dict[str, str]:
        return self._with(CopyStatus.FAILED)

    @property
    def pending(self) -> dict[str, str]:
        """Copies not final yet (planned for a retry, or sent and in flight)."""
        return {c.follower_id: c.reason for c in self.copies if not c.status.is_final}

    @property
    def complete(self) -> bool:
        return not self.pending

    def to_dict(self) -> dict[str, object]:
        return {
            "signal_id": self.signal_id,
            "broker": self.broker,
            "symbol": self.symbol,
            "side": self.side,
            "processed": self.processed,
            "succeeded": self.succeeded,
            "observed": self.observed,
            "skipped": self.skipped,
            "failed": self.failed,
            "pending": self.pending,
            "copies": [
                {"follower_id": c.follower_id, "status": str(c.status), "client_order_id": c.client_order_id,
                 "reason": c.reason, "attempts": c.attempts,
                 "requested_base": None if c.requested_base is None else str(c.requested_base),
                 "requested_quote": None if c.requested_quote is None else str(c.requested_quote)}
                for c in self.copies
            ],
        }

    def line(self) -> str:
        text = (
            f"copy summary {self.broker} {self.side.upper()} {self.symbol} signal {self.signal_id[:8]}: "
            f"processed {self.processed}, succeeded {self.succeeded}, skipped {len(self.skipped)}, "
            f"failed {len(self.failed)}"
        )
        if self.observed:
            text += f", observed {self.observed} (COPY_OBSERVE_ONLY: nothing placed)"
        if self.pending:
            text += f", pending {len(self.pending)}"
        details = [f"{k} skipped: {v}" for k, v in sorted(self.skipped.items())]
        details += [f"{k} failed: {v}" for k, v in sorted(self.failed.items())]
        return text + "".join(f"\n  - {d}" for d in details)
