"""USD prices shared by every Kraken adapter of one process and state directory.

Prices are public: the same for every account. Without sharing, a copy fan-out to 100 followers
sent 100 identical Ticker requests (one per follower's balance read, to value its holdings) at
the same instant: an extra round trip in every copy, and a burst that real Kraken's per-IP limit
on public calls would refuse. With the board, a price any adapter read (the master's own balance
read, a strategy scan, another follower) or traded at (an order's fill, such as the master's fill a
fan-out copies) values every account's holdings while it is younger than
KRAKEN_PRICE_MAX_AGE_SECONDS; prices nobody has seen recently are fetched once, by one caller,
for all the callers that need them at that moment.

Age is measured on both the injected clock and real time, whichever ran further (as the rate
limiter drains): a simulated clock that jumps ahead ages prices at once, and a frozen test clock
still lets them expire in real time.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from bot.clock import Clock


class PriceBoard:
    """Last prices by bot symbol, each stamped with the clock and the real time it was read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fetching = threading.Lock()  # one fetch of missing prices at a time; the others wait for it
        self._prices: dict[str, tuple[float, float, float]] = {}  # symbol -> (price, clock time, monotonic time)

    def note(self, prices: Mapping[str, float], clock: Clock, at: float | None = None) -> None:
        """Remember prices seen at clock time `at` (default now); an older sighting never replaces a newer one."""
        now_clock, now_real = clock.now(), time.monotonic()
        stamp_clock = now_clock if at is None else min(at, now_clock)
        stamp_real = now_real - (now_clock - stamp_clock)
        with self._lock:
            for symbol, price in prices.items():
                known = self._prices.get(symbol)
                if price > 0 and (known is None or known[1] <= stamp_clock):
                    self._prices[symbol] = (price, stamp_clock, stamp_real)

    def fresh(self, symbols: Iterable[str], clock: Clock, max_age: float) -> dict[str, float]:
        """The prices of `symbols` read at most `max_age` seconds ago (by clock and by real time)."""
        now_clock, now_real = clock.now(), time.monotonic()
        out: dict[str, float] = {}
        with self._lock:
            for symbol in symbols:
                known = self._prices.get(symbol)
                if known is not None and max(now_clock - known[1], now_real - known[2]) <= max_age:
                    out[symbol] = known[0]
        return out

    def prices(
        self, symbols: Iterable[str], clock: Clock, max_age: float,
        fetch: Callable[[list[str]], Mapping[str, float]],
    ) -> dict[str, float]:
        """Fresh prices of `symbols`; the missing ones come from one `fetch` (which notes them here)."""
        wanted = list(dict.fromkeys(symbols))
        if max_age <= 0:  # sharing turned off: every caller reads its own prices
            return dict(fetch(wanted)) if wanted else {}
        known = self.fresh(wanted, clock, max_age)
        if len(known) == len(wanted):
            return known
        with self._fetching:
            # A caller that fetched while we waited may have brought them.
            known.update(self.fresh([s for s in wanted if s not in known], clock, max_age))
            missing = [s for s in wanted if s not in known]
            if missing:
                known.update(fetch(missing))
        return known


_boards: weakref.WeakValueDictionary[tuple[str, str], PriceBoard] = weakref.WeakValueDictionary()
_boards_lock = threading.Lock()


def board_for(api_url: str, state_dir: Path) -> PriceBoard:
    """The process-wide board of (API URL, state directory): one bot's accounts share it, tests stay apart."""
    ident = (api_url.rstrip("/"), str(Path(state_dir).resolve()))
    with _boards_lock:
        board = _boards.get(ident)
        if board is None:
            board = PriceBoard()
            _boards[ident] = board
        return board
