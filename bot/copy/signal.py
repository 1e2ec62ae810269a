"""The trade signal one filled master order emits (docs/rules.md §5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.brokers.base import OrderResult, Side, derived_client_order_id


def signal_id_for(broker: str, master_order_id: str) -> str:
    """Deterministic: the same master fill always gives the same signal id (exactly-once across restarts)."""
    return derived_client_order_id("signal", broker, master_order_id)


@dataclass(frozen=True)
class TradeSignal:
    """One master fill, entries and exits alike.

    ``filled_base`` is in base units and ``quote_notional`` in quote units (USD); both are kept so
    nothing downstream ever has to guess which of the two a number is.
    """

    signal_id: str
    broker: str
    symbol: str
    side: Side
    fill_price: float  # quote per base unit
    filled_base: float  # base units
    quote_notional: float  # quote units (USD)
    master_order_id: str  # the exchange's order id of the master fill
    master_equity: float  # USD, master equity before the trade
    time: float
    fraction_sold: float | None = None  # sells: fraction of the master's position sold (1.0 = full close)
    master_stop_price: float | None = None  # buys: the master's protective stop, copied by followers
    master_client_order_id: str = ""

    def __post_init__(self) -> None:
        for name in ("fill_price", "filled_base", "quote_notional", "master_equity"):
            value = getattr(self, name)
            if math.isnan(value) or value < 0:
                raise ValueError(f"TradeSignal.{name} must be 0 or more, got {value!r}")
        if self.side is Side.SELL and (self.fraction_sold is None or not 0 < self.fraction_sold <= 1):
            raise ValueError(f"a sell signal needs fraction_sold in (0, 1], got {self.fraction_sold!r}")
        expected = self.filled_base * self.fill_price
        if expected > 0 and not math.isclose(self.quote_notional, expected, rel_tol=0.01):
            # The old bot's "$8.46 capped from $4,757.31": a base quantity passed where USD was meant.
            raise ValueError(
                f"TradeSignal.quote_notional {self.quote_notional} does not match filled_base x fill_price "
                f"= {expected}; base quantities and USD must not be mixed"
            )

    @classmethod
    def from_fill(
        cls,
        broker: str,
        fill: OrderResult,
        master_equity: float,
        *,
        fraction_sold: float | None = None,
        master_stop_price: float | None = None,
    ) -> TradeSignal:
        """The signal of one filled master order, as the master's thread sees it after settling."""
        master_order_id = fill.exchange_order_id or fill.client_order_id
        return cls(
            signal_id=signal_id_for(broker, master_order_id),
            broker=broker,
            symbol=fill.symbol,
            side=Side(fill.side),
            fill_price=float(fill.avg_price),
            filled_base=float(fill.filled_base),
            quote_notional=float(fill.filled_quote),
            master_order_id=master_order_id,
            master_equity=master_equity,
            time=fill.time,
            fraction_sold=min(fraction_sold, 1.0) if fraction_sold is not None else None,
            master_stop_price=master_stop_price,
            master_client_order_id=fill.client_order_id,
        )
