"""Reconciliation of one account with its exchange (docs/rules.md §8): book what is missing, then compare.

What the exchange holds should equal the booked position plus fills not booked yet. So, in order:

1. Every order the store left unsettled is looked up by client order id and, when final, booked by
   the ledger exactly as the run that sent it would have booked it (fill, position, signal and copy
   outbox rows). An order the exchange cannot settle yet stays in flight, and its symbol is not
   compared (its fill would be counted as a difference, then booked again: failure 3).
2. Open orders on the exchange that the store does not know are reported and left alone.
3. Each booked position is compared with the holding, exactly (Decimal). A holding smaller than
   the position is the exchange's truth: the position is reduced to it (removed when nothing is
   held), and the line gives both numbers. Because every fill was booked in step 1, the store then
   equals the exchange and a second reconciliation finds nothing to correct: no correction is ever
   applied twice. A holding larger than the position is reported and the extra left alone.
4. Holdings with no position (not cash) are reported and left alone.

No order is ever placed or cancelled here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

from bot.brokers.amounts import plain
from bot.brokers.base import Broker
from bot.config.accounts import AccountConfig
from bot.execution.ledger import UNSETTLED, ExecutionLedger
from bot.execution.positions import ZERO, exact
from bot.state.store import StateStore


@dataclass
class ReconcileReport:
    account: str
    settled: list[str] = field(default_factory=list)  # unsettled orders the exchange settled; booked now
    still_unknown: list[str] = field(default_factory=list)  # orders the exchange could not settle yet
    unknown_open_orders: list[str] = field(default_factory=list)  # open on the exchange, not in our store
    position_mismatches: list[str] = field(default_factory=list)  # booked position vs holding, both numbers
    untracked_holdings: list[str] = field(default_factory=list)  # held on the exchange, no booked position
    not_compared: list[str] = field(default_factory=list)  # symbols with an order still in flight

    @property
    def clean(self) -> bool:
        return not (self.still_unknown or self.unknown_open_orders or self.position_mismatches
                    or self.untracked_holdings)

    def lines(self) -> list[str]:
        out = [f"settled {s}" for s in self.settled]
        out += [f"NOT SETTLED YET {s}" for s in self.still_unknown]
        out += [f"NOT COMPARED {s}" for s in self.not_compared]
        out += [f"UNKNOWN OPEN ORDER {s} (not in the bot's store; left alone)" for s in self.unknown_open_orders]
        out += [f"POSITION MISMATCH {s}" for s in self.position_mismatches]
        out += [f"UNTRACKED HOLDING {s} (not traded by the bot; left alone)" for s in self.untracked_holdings]
        return out or ["store and exchange agree"]


def reconcile_account(
    account: AccountConfig, broker: Broker, store: StateStore, ledger: ExecutionLedger, cash_assets: Collection[str]
) -> ReconcileReport:
    """Book missing fills, then compare holdings with positions; raise BrokerError when the exchange cannot be read."""
    report = ReconcileReport(account.label)
    b, a = account.broker, account.account_id

    for order in ledger.settle_unsettled(b, a, broker):
        what = f"{order.side} {order.symbol} {order.client_order_id[:8]}"
        if order.status in UNSETTLED:
            report.still_unknown.append(f"{what}: {order.status} ({order.reason})")
        elif order.filled_base > 0:
            filled = f"{plain(order.filled_base)} @ {plain(order.avg_price)}"
            report.settled.append(f"{what}: {order.status} {filled}; booked")
        else:
            report.settled.append(f"{what}: {order.status} ({order.reason})")
    in_flight = {o.symbol for o in ledger.unsettled(b, a)}

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
        if position.symbol in in_flight:
            report.not_compared.append(f"{position.symbol}: an order of it is still in flight")
            continue
        held = exact(snapshot.holding(base))
        booked = position.quantity
        if held == booked:
            continue
        if held < booked:
            with store.transaction():
                if held <= 0:
                    store.delete_position(b, a, position.symbol)
                    outcome = "removed"
                else:
                    cost = (position.cost_quote * held / booked) if booked > 0 else ZERO
                    store.save_position(replace(position, quantity=held, cost_quote=cost))
                    outcome = "position reduced to the holding"
            report.position_mismatches.append(
                f"{position.symbol}: store had {plain(booked)} {base}, exchange holds "
                f"{plain(held) if held > 0 else 'none'}; "
                f"{outcome}"
            )
        else:
            report.position_mismatches.append(
                f"{position.symbol}: exchange holds {plain(held)} {base}, more than the stored {plain(booked)}; "
                f"the extra {plain(held - booked)} is left alone"
            )
    cash = {c.upper() for c in cash_assets}
    for asset, balance in snapshot.assets.items():
        total = exact(balance.total)
        if asset in tracked or asset in cash or total <= 0:
            continue
        price = snapshot.prices_usd.get(asset, 0.0)
        report.untracked_holdings.append(f"{plain(total)} {asset} (about {float(total) * price:.2f} USD)")
    return report
