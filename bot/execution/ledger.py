"""The execution ledger: the one path every order of every account takes, booked exactly once.

Strategy entries and exits, copy entries and exits and the follower guard's exits all go through
``ExecutionLedger``. Adapters only report what the exchange says (``Broker.place_order`` and
``Broker.get_order``); the ledger alone writes orders, fills, positions, trades, signals and the
copy outbox (nautilus_trader's split: execution clients report, one engine books and reconciles).

Order of writes for one order, each a committed transaction, with the named crash point after it
(``bot/execution/crashpoints.py``; ``NIJA_CRASH_AT`` kills the process exactly there):

1. **Intent**: the ``orders`` row with status ``in_flight``, the client order id, side, size and
   the plan booking will need (``OrderPlan``: the equity before, whether it emits a signal, the
   planned stop distance and targets of an entry; the exit's reason, sell fraction, the position
   quantity it was decided on and the levels to keep; for a copy, the signal it serves and the
   master's stop). A copy's outbox row turns ``sent`` with its size in the same transaction.
                                                  -> ``intent_written`` (a copy: then ``copy_planned``)
2. **Send** through ``Broker.place_order`` (it looks the order up by client order id before it
   ever resends). Nothing is written between the answer and step 3 or 4.        -> ``order_answered``
3. **Settle** while the answer is not final (``in_flight``, ``open``, ``partially_filled``): the
   answer is recorded with the next look-up time, and the order is looked up by client order id
   with back-off during the run (``settle_due``, every pass of its account and the copy
   dispatcher's in-flight loop, which runs for every account of its brokerage whatever the
   strategy's pace) until the exchange gives a final status.                   -> ``settle_answered``
4. **Book**, in ONE transaction, from the final answer and the intent row only (never from memory):
   the order's final status and amounts; the fill (realised P&L on a sale); the position (opened,
   averaged in, reduced, or closed with its ``trades`` row; dust under the exchange minimum closes
   it); for a master the signal (id derived from the master's client order id) and one ``planned``
   outbox row per follower configured for the brokerage; for a copy its outbox row's outcome.
   A booked order's status is final: booking it again changes nothing.         -> ``fill_booked``

Recovery after a kill at each point (start-up runs ``settle_unsettled`` for every account before
its thread starts, then the passes go on settling; nothing is sent again before a look-up):

- ``intent_written`` / ``copy_planned`` (the same commit): the order may or may not have reached
  the exchange. It is looked up by its client order id: found -> settled and booked like any
  answer; conclusively unknown once
  ``UNKNOWN_ORDER_GRACE_SECONDS`` have passed since the intent -> never placed: ``rejected`` (a
  copy goes back to ``planned`` and is sent again under the same client order id; a stale entry
  copy is skipped). Until then it stays in flight.
- ``order_answered`` / ``settle_answered``: the exchange has the order; the look-up finds it and
  it is booked from the intent row, so a half exit stays a half exit (the fraction comes from the
  recorded position quantity) and an entry keeps its planned stop (failures 4 and 5).
- ``fill_booked``: everything of the order is written, including the master's signal and its
  outbox rows, which the copy dispatcher drives to a final state; nothing to do for the order.
- ``copy_finished`` (bot/copy/dispatcher.py): one follower's copy reached its final state (its
  order booked, or skipped/failed with the reason); the signal's other copies go on after a restart
  from their own rows, and the signal is completed once all are final.

A booked fill is never re-applied: booking checks, inside its transaction, that the order is not
final yet. Reconciliation (``bot.execution.reconcile``) therefore settles and books every
unsettled order first and compares holdings with positions only afterwards (failure 3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TypeVar

from bot.brokers.base import Broker, MarketInfo, OrderRequest, OrderResult, OrderStatus, Side
from bot.brokers.errors import AuthenticationError, BrokerError, MarketNotFound, TransientError
from bot.clock import Clock
from bot.config.settings import Settings
from bot.execution.booking import COPY_PURPOSES, Booked, BookingRules, book_order, never_placed, retry_delay
from bot.execution.crashpoints import crash_point
from bot.execution.locks import account_lock
from bot.state.positions import with_levels
from bot.state.records import UNSETTLED, CopyRecord, OrderPlan, OrderRecord, PositionRecord, SignalRecord
from bot.state.store import StateStore
from bot.strategy.exits import Position

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class OrderIntent:
    """An order an account has decided to send, with everything its booking will need."""

    broker: str
    account_id: str
    symbol: str
    side: Side
    purpose: str  # entry, exit, copy_entry, copy_exit, guard_exit
    client_order_id: str
    base_qty: Decimal | None = None
    quote_notional: Decimal | None = None
    plan: OrderPlan = field(default_factory=OrderPlan)
    signal_id: str | None = None
    reason: str = ""

    def request(self) -> OrderRequest:
        return OrderRequest(self.symbol, self.side, self.client_order_id, base_qty=self.base_qty,
                            quote_notional=self.quote_notional)


def _never_executed(order: OrderRecord) -> bool:
    """Booked as refused or never placed, with nothing filled: its id may carry a new attempt."""
    final_empty = order.status in (str(OrderStatus.REJECTED), str(OrderStatus.CANCELED))
    return final_empty and order.filled_base == 0


#: who copies a brokerage's master now: (broker) -> follower account ids
FollowersOf = Callable[[str], Sequence[str]]


class ExecutionLedger:
    """Intent, send, settle and book for every account; one instance per process, shared by all threads."""

    def __init__(
        self,
        store: StateStore,
        settings: Settings,
        clock: Clock,
        *,
        followers_of: FollowersOf | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.followers_of: FollowersOf = followers_of or (lambda broker: ())
        self._signal_listeners: list[Callable[[SignalRecord], None]] = []
        self._in_flight_listeners: list[Callable[[OrderRecord], None]] = []
        self.rules = BookingRules.from_settings(settings)

    def on_signal(self, listener: Callable[[SignalRecord], None]) -> None:
        """Call `listener` (after the commit) with every master signal booked: the copy dispatcher wakes on it."""
        self._signal_listeners.append(listener)

    def on_in_flight(self, listener: Callable[[OrderRecord], None]) -> None:
        """Call `listener` with an order that is not a copy when it is first left in flight (the in-flight loop wakes;
        its rounds then keep the order's next look-up time themselves, and a copy's row drives its own)."""
        self._in_flight_listeners.append(listener)

    # ---- 1-2: intent and send ----------------------------------------------------------------------
    def submit(self, intent: OrderIntent, broker: Broker, *, copy: CopyRecord | None = None) -> OrderRecord:
        """Write the intent, send the order, then book it or leave it in flight; the order's row after that.

        ``copy``: the outbox row this order serves, written as ``sent`` with the intent. Raises
        AuthenticationError after booking the refusal (the account must stop); never raises for an
        unknown outcome (the order stays in flight and is settled later). Raises StopRequested, with
        nothing written, once the bot is stopping (the caller's plan stays as it was for the next start).
        """
        purpose = intent.purpose
        broker.stop_token.check(f"{purpose} {intent.side} {intent.symbol}")  # no new order once stopping
        with account_lock(intent.broker, intent.account_id):
            order, send = self.write_intent(intent, copy)
            if not send:
                return order  # an order with this id exists: it is settled or booked, never sent twice
            crash_point("intent_written", purpose)
            if copy is not None:
                crash_point("copy_planned", purpose)
            try:
                result = broker.place_order(intent.request())
            except (AuthenticationError, MarketNotFound) as error:
                # Refused before anything executed: booked as rejected, and the account learns why.
                refused = OrderResult(intent.client_order_id, intent.symbol, intent.side, OrderStatus.REJECTED,
                                      reason=f"{type(error).__name__}: {error}", time=self.clock.now())
                crash_point("order_answered", purpose)
                self._apply(order, refused, broker)
                if isinstance(error, AuthenticationError):
                    raise
                return self._row(order)
            crash_point("order_answered", purpose)
            return self._apply(order, result, broker)

    def write_intent(self, intent: OrderIntent, copy: CopyRecord | None = None) -> tuple[OrderRecord, bool]:
        """Step 1 alone (``submit`` runs steps 1-4): (order row, whether to send it). An id already used is
        written again only after a conclusive "never placed" (a copy retried under its one client order id)."""
        now = self.clock.now()
        order = OrderRecord(
            client_order_id=intent.client_order_id, broker=intent.broker, account_id=intent.account_id,
            symbol=intent.symbol, side=str(intent.side), status=str(OrderStatus.IN_FLIGHT),
            requested_base=intent.base_qty, requested_quote=intent.quote_notional, purpose=intent.purpose,
            signal_id=intent.signal_id, reason=intent.reason, plan=intent.plan, created_at=now, updated_at=now,
            next_check_at=now + self.rules.settle_first_seconds,
        )
        with self.store.transaction():
            if not self.store.add_order(order):
                existing = self.store.get_order(intent.client_order_id)
                if existing is None or not _never_executed(existing):
                    return existing or order, False
                self.store.save_order(order)
            if copy is not None:
                self.store.copy_sent(replace(copy, requested_base=intent.base_qty,
                                             requested_quote=intent.quote_notional,
                                             reason=intent.reason or copy.reason))
        return order, True

    # ---- 3: settle ---------------------------------------------------------------------------------
    def unsettled(self, broker: str | None = None, account_id: str | None = None) -> list[OrderRecord]:
        return self.store.orders(broker, account_id, statuses=UNSETTLED)

    def settle_due(self, broker_name: str, account_id: str, broker: Broker) -> list[OrderRecord]:
        """Look up this account's unsettled orders whose next look-up is due; their rows afterwards."""
        now = self.clock.now()
        due = [o for o in self.unsettled(broker_name, account_id) if o.next_check_at is None or o.next_check_at <= now]
        return [self.settle(order, broker) for order in due]

    def settle_unsettled(self, broker_name: str, account_id: str, broker: Broker) -> list[OrderRecord]:
        """Every unsettled order of the account, due or not (start-up recovery, reconciliation)."""
        return [self.settle(order, broker) for order in self.unsettled(broker_name, account_id)]

    def settle(self, order: OrderRecord, broker: Broker) -> OrderRecord:
        """Look one order up by client order id; book it when final, else schedule the next look-up."""
        with account_lock(order.broker, order.account_id):
            current = self.store.get_order(order.client_order_id)
            if current is None or current.status not in UNSETTLED:
                return current or order  # booked meanwhile by another thread
            try:
                found = broker.get_order(current.client_order_id, current.symbol)
            except TransientError as error:
                return self._not_yet(current, f"look-up failed: {error}")
            crash_point("settle_answered", current.purpose)
            if found is not None:
                return self._apply(current, found, broker)
            if self.clock.now() - current.created_at >= broker.unknown_order_grace_seconds:
                return self._book(current, lambda: never_placed(self.store, current, self.clock.now(), self.rules))
            return self._not_yet(current, "not on the exchange yet; looked up again until the grace period ends")

    def update_levels(self, record: PositionRecord, moved: Position) -> None:
        """Save the strategy's new price levels (a trailing stop) of a position that holds nothing in flight."""
        with account_lock(record.broker, record.account_id), self.store.transaction():
            current = self.store.get_position(record.broker, record.account_id, record.symbol)
            if current is not None and current.trade_id == record.trade_id:
                self.store.save_position(with_levels(current, moved))

    # ---- 4: book -----------------------------------------------------------------------------------
    def _apply(self, order: OrderRecord, result: OrderResult, broker: Broker) -> OrderRecord:
        if not result.status.is_final:
            return self._not_yet(order, result.reason or str(result.status), result)
        market = self._market(broker, order.symbol)
        followers = self.followers_of(order.broker) if order.plan and order.plan.emits_signal else ()
        return self._book(order, lambda: book_order(
            self.store, order, result, now=self.clock.now(), rules=self.rules, market=market, followers=followers,
        ))

    def _book(self, order: OrderRecord, booking: Callable[[], Booked]) -> OrderRecord:
        with self.store.transaction():
            booked = booking()
        crash_point("fill_booked", order.purpose)
        if booked.already:
            return booked.order
        booked.log()
        if booked.signal is not None:
            _notify(self._signal_listeners, booked.signal)
        return booked.order

    def _not_yet(self, order: OrderRecord, reason: str, result: OrderResult | None = None) -> OrderRecord:
        """Record a non-final answer and when to look again (back-off doubling up to the cap)."""
        checks = order.checks + 1
        delay = retry_delay(self.rules.settle_first_seconds, self.rules.settle_max_seconds, checks)
        updated = replace(
            order,
            status=str(result.status) if result is not None else order.status,
            exchange_order_id=(result.exchange_order_id if result is not None else None) or order.exchange_order_id,
            reason=reason,
            checks=checks,
            next_check_at=self.clock.now() + delay,
        )
        if order.checks == 0:
            # Accepted and working (Alpaca fills a market order a moment later) is normal; an unknown outcome is not.
            level = logging.INFO if updated.status == str(OrderStatus.OPEN) else logging.WARNING
            log.log(level, "order %s %s %s not final yet (%s); looked up again in %.0f s", order.client_order_id[:8],
                    order.side, order.symbol, reason, delay)
        updated = replace(updated, updated_at=self.clock.now())
        self.store.settle_order(updated)
        if order.checks == 0 and order.purpose not in COPY_PURPOSES:
            _notify(self._in_flight_listeners, updated)
        return updated

    def _row(self, order: OrderRecord) -> OrderRecord:
        return self.store.get_order(order.client_order_id) or order

    @staticmethod
    def _market(broker: Broker, symbol: str) -> MarketInfo | None:
        try:
            return broker.market(symbol)
        except BrokerError:
            return None


def _notify(listeners: Sequence[Callable[[T], None]], value: T) -> None:
    """Tell each listener; a listener's trouble never undoes or blocks what the ledger wrote."""
    for listener in listeners:
        try:
            listener(value)
        except Exception:
            log.exception("ledger listener failed")
