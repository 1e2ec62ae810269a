"""Start-up reconciliation of one account with its exchange (docs/rules.md §8).

Orders the store left unsettled are looked up by client order id; open orders on the exchange
are matched to the store by client order id; every stored position is compared with what the
exchange holds. Nothing unmatched is ignored: it is reported, and the store is corrected only
where the exchange is the truth (an order's final status, a position larger than the holding).
No order is ever placed or cancelled here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

from bot.brokers.base import Broker, OrderStatus
from bot.config.accounts import AccountConfig
from bot.state.store import StateStore

_UNSETTLED = (str(OrderStatus.IN_FLIGHT), str(OrderStatus.OPEN), str(OrderStatus.PARTIALLY_FILLED))
_TOLERANCE = 1e-6  # relative: float noise between the exchange's and our quantities


@dataclass
class ReconcileReport:
    account: str
    settled: list[str] = field(default_factory=list)  # stored orders whose outcome the exchange told us
    still_unknown: list[str] = field(default_factory=list)  # stored orders the exchange could not settle yet
    unknown_open_orders: list[str] = field(default_factory=list)  # open on the exchange, not in our store
    position_mismatches: list[str] = field(default_factory=list)  # stored position vs holding
    untracked_holdings: list[str] = field(default_factory=list)  # held on the exchange, no stored position

    @property
    def clean(self) -> bool:
        return not (self.still_unknown or self.unknown_open_orders or self.position_mismatches
                    or self.untracked_holdings)

    def lines(self) -> list[str]:
        out = [f"settled {s}" for s in self.settled]
        out += [f"NOT SETTLED YET {s}" for s in self.still_unknown]
        out += [f"UNKNOWN OPEN ORDER {s} (not in the bot's store; left alone)" for s in self.unknown_open_orders]
        out += [f"POSITION MISMATCH {s}" for s in self.position_mismatches]
        out += [f"UNTRACKED HOLDING {s} (not traded by the bot; left alone)" for s in self.untracked_holdings]
        return out or ["store and exchange agree"]


def reconcile_account(
    account: AccountConfig, broker: Broker, store: StateStore, cash_assets: Collection[str]
) -> ReconcileReport:
    """Compare one account's store with its exchange; raise BrokerError when the exchange cannot be read."""
    report = ReconcileReport(account.label)
    b, a = account.broker, account.account_id

    for order in store.orders(b, a, statuses=_UNSETTLED):
        found = broker.get_order(order.client_order_id, order.symbol)
        if found is None:
            if order.status == str(OrderStatus.IN_FLIGHT):
                # The exchange answered that no such order exists: it never executed.
                store.record_order(replace(order, status=str(OrderStatus.REJECTED),
                                           reason="not found on the exchange at start-up: never executed"))
                report.settled.append(f"{order.side} {order.symbol} {order.client_order_id[:8]}: never executed")
            else:
                report.still_unknown.append(f"{order.side} {order.symbol} {order.client_order_id[:8]}: not found")
            continue
        if found.status.is_final:
            report.settled.append(f"{order.side} {order.symbol} {order.client_order_id[:8]}: {found.status} "
                                  f"{float(found.filled_base):g} @ {float(found.avg_price):g}")
        else:
            report.still_unknown.append(f"{order.side} {order.symbol} {order.client_order_id[:8]}: {found.status}")
        # The trading thread books the fill (position, copy signal) when it settles this order.

    for open_order in broker.open_orders():
        if store.get_order(open_order.client_order_id) is None:
            report.unknown_open_orders.append(
                f"{open_order.side} {open_order.symbol} id {open_order.exchange_order_id or open_order.client_order_id}"
            )

    snapshot = broker.balances()
    markets = broker.markets()
    tracked: set[str] = set()
    for position in store.positions(b, a):
        market = markets.get(position.symbol)
        base = market.base if market is not None else position.symbol.split("-")[0]
        tracked.add(base)
        held = float(snapshot.holding(base))
        if held + _TOLERANCE * max(position.quantity, 1.0) < position.quantity:
            if held <= 0:
                store.delete_position(b, a, position.symbol)
                report.position_mismatches.append(
                    f"{position.symbol}: store had {position.quantity:g} {base}, exchange holds none; removed"
                )
            else:
                store.save_position(replace(position, quantity=held))
                report.position_mismatches.append(
                    f"{position.symbol}: store had {position.quantity:g} {base}, exchange holds {held:g}; "
                    "position reduced to the holding"
                )
        elif held - position.quantity > max(_TOLERANCE * position.quantity,
                                            float(market.min_base_qty) if market else 0.0):
            report.position_mismatches.append(
                f"{position.symbol}: exchange holds {held:g} {base}, more than the stored {position.quantity:g}; "
                "the extra is left alone"
            )
    cash = {c.upper() for c in cash_assets}
    for asset, balance in snapshot.assets.items():
        if asset in tracked or asset in cash or balance.total <= 0:
            continue
        price = snapshot.prices_usd.get(asset, 0.0)
        total = float(balance.total)
        report.untracked_holdings.append(f"{total:g} {asset} (about {total * price:.2f} USD)")
    return report

