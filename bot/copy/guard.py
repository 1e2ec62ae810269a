"""The follower guard: a follower's only periodic work. It protects copied positions when the master cannot.

While the master's heartbeat is fresh, the master's own exits reach the follower as sell signals and
the guard only watches, with one exception: an orphaned copy (the master closed the symbol after the
copy was bought, and that close's copy ended without selling: it found no position yet) is closed at
once. A close still in the copy outbox is left to the dispatcher.
When the heartbeat is older than MASTER_OFFLINE_SECONDS (or the master never beat), the guard
enforces each copied position's own protective stop and the time exit (MAX_HOLD_HOURS) itself.
It only ever sells, through the execution ledger like every order: followers never open positions
on their own, and a symbol with an order in flight gets no second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from bot.brokers.base import Side, new_client_order_id
from bot.clock import Clock, SystemClock
from bot.config.settings import Settings
from bot.copy.followers import Follower
from bot.execution.ledger import ExecutionLedger, OrderIntent
from bot.execution.locks import account_lock
from bot.execution.positions import ONE, ZERO, exact, sale_quantity
from bot.state.records import CopyStatus, OrderPlan, PositionRecord
from bot.state.store import StateStore

log = logging.getLogger(__name__)

GUARD_PURPOSE = "guard_exit"


@dataclass(frozen=True)
class GuardAction:
    symbol: str
    reason: str  # "stop", "time" or "orphan"
    quantity: Decimal  # base units sent (0 when skipped)
    status: str  # the order's status after sending, or "skipped"
    client_order_id: str = ""
    detail: str = ""


@dataclass(frozen=True)
class GuardReport:
    broker: str
    account_id: str
    master_online: bool
    master_last_seen: float | None
    positions_checked: int
    actions: tuple[GuardAction, ...] = field(default_factory=tuple)

    def line(self) -> str:
        acted = ", ".join(f"{a.reason} {a.symbol} {a.status}" for a in self.actions) or "no exit due"
        if self.master_online:
            return (
                f"{self.broker}:{self.account_id} guard: master online, "
                f"{self.positions_checked} copied positions; {acted}"
            )
        seen = "never" if self.master_last_seen is None else f"at {self.master_last_seen:.0f}"
        return (
            f"{self.broker}:{self.account_id} guard: MASTER OFFLINE (last seen {seen}); "
            f"{self.positions_checked} copied positions; {acted}"
        )


class FollowerGuard:
    """One follower's guard pass; the trader calls run_once() on the follower's thread every monitoring pass."""

    def __init__(
        self, follower: Follower, store: StateStore, settings: Settings, clock: Clock | None = None,
        ledger: ExecutionLedger | None = None,
    ) -> None:
        self.follower = follower
        self.store = store
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.ledger = ledger or ExecutionLedger(store, settings, self.clock)

    @property
    def broker_name(self) -> str:
        return self.follower.account.broker

    def master_online(self, now: float | None = None) -> tuple[bool, float | None]:
        """(online, last seen): online while the master's heartbeat is at most MASTER_OFFLINE_SECONDS old."""
        beat = self.store.master_heartbeat(self.broker_name)
        if beat is None:
            return False, None
        now = self.clock.now() if now is None else now
        return now - beat.last_seen <= self.settings.copy_trading.master_offline_seconds, beat.last_seen

    def run_once(self) -> GuardReport:
        now = self.clock.now()
        account_id = self.follower.account_id
        positions = self.store.positions(self.broker_name, account_id, copies_only=True)
        online, last_seen = self.master_online(now)
        orphans = {p.symbol for p in positions if self._master_closed_since(p)}
        watched = positions if not online else [p for p in positions if p.symbol in orphans]
        if not watched:
            return GuardReport(self.broker_name, account_id, online, last_seen, len(positions))
        tickers = self.follower.broker.tickers([p.symbol for p in watched])
        actions: list[GuardAction] = []
        max_hold = self.settings.strategy.max_hold_hours * 3600.0
        for position in watched:
            ticker = tickers.get(position.symbol)
            if ticker is None:
                log.warning("%s guard: no price for %s; its stop cannot be checked this pass",
                            self.follower.label, position.symbol)
                continue
            price = ticker.bid if ticker.bid > 0 else ticker.last
            if position.symbol in orphans:
                reason = "orphan"
            elif price <= position.stop_price:
                reason = "stop"
            elif now - position.opened_at >= max_hold:
                reason = "time"
            else:
                continue
            if not self.follower.broker.market_is_open(position.symbol):
                # A stock sale cannot execute while its market is closed; decided again next pass.
                log.debug("%s guard %s exit of %s waits for its market to open", self.follower.label, reason,
                          position.symbol)
                continue
            actions.append(self._exit(position, reason, price))
        report = GuardReport(self.broker_name, account_id, online, last_seen, len(positions), tuple(actions))
        if actions or not online:
            log.warning(report.line())
        return report

    def _master_closed_since(self, position: PositionRecord) -> bool:
        """Whether the master fully closed this symbol after the copy was bought and that close's copy is over
        without selling (it found nothing to sell). A close whose copy is still in the outbox is the
        dispatcher's to carry out: the guard never races it."""
        closes = self.store.signals(self.broker_name, symbol=position.symbol, side=str(Side.SELL),
                                    since=position.opened_at)
        for close in closes:
            if close.fraction_sold is None or close.fraction_sold < ONE:
                continue
            copy = self.store.get_copy(close.signal_id, self.follower.account_id)
            if copy is None or (copy.status.is_final and copy.status is not CopyStatus.FILLED):
                return True
        return False

    def _exit(self, position: PositionRecord, reason: str, price: float) -> GuardAction:
        """Sell the whole copied position (what is really held of it), through the ledger."""
        broker = self.follower.broker
        account_id = self.follower.account_id
        with account_lock(self.broker_name, account_id):
            current = self.store.get_position(self.broker_name, account_id, position.symbol)
            if current is None or current.trade_id != position.trade_id:
                return GuardAction(position.symbol, reason, ZERO, "skipped", detail="position closed meanwhile")
            if any(o.symbol == current.symbol for o in self.ledger.unsettled(self.broker_name, account_id)):
                return GuardAction(current.symbol, reason, ZERO, "in_flight", detail="an order of it is in flight")
            market = broker.market(current.symbol)
            held = broker.balances().assets.get(market.base)
            quantity, problem = sale_quantity(
                current.quantity, exact(held.available) if held is not None else ZERO, ONE, price=exact(price),
                lot_decimals=market.base_decimals, min_base_qty=exact(market.min_base_qty),
                min_notional=exact(market.min_notional),
            )
            if problem:
                log.warning("%s guard cannot sell %s: %s", self.follower.label, current.symbol, problem)
                return GuardAction(current.symbol, reason, ZERO, "skipped", detail=problem)
            intent = OrderIntent(self.broker_name, account_id, current.symbol, Side.SELL, GUARD_PURPOSE,
                                 new_client_order_id(), base_qty=quantity, reason=reason,
                                 plan=OrderPlan(exit_reason=reason, sell_fraction=1.0,
                                                position_quantity=current.quantity))
            order = self.ledger.submit(intent, broker)
        log.warning("%s guard %s exit %s: %s %s @ %s", self.follower.label, reason, current.symbol, order.status,
                    order.filled_base, order.avg_price)
        return GuardAction(current.symbol, reason, order.filled_base, order.status, order.client_order_id,
                           order.reason)
