"""The follower guard: a follower's only periodic work. It protects copied positions when the master cannot.

While the master's heartbeat is fresh, the master's own exits reach the follower as sell signals and
the guard only watches, with one exception: an orphaned copy (the follower's buy was settled only
after the master had already closed that symbol, so the close could not be copied) is closed at once.
When the heartbeat is older than MASTER_OFFLINE_SECONDS (or the master never
beat), the guard enforces each copied position's own protective stop and the time exit
(MAX_HOLD_HOURS) itself. It only ever sells: followers never open positions on their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.brokers.base import OrderRequest, OrderResult, OrderStatus, Side, derived_client_order_id
from bot.brokers.errors import OrderRejected, TransientError
from bot.clock import Clock, SystemClock
from bot.config.settings import Settings
from bot.copy.followers import Follower, position_lock
from bot.copy.sizing import is_full_close
from bot.lots import decimal_amount
from bot.state.records import FillRecord, OrderRecord, PositionRecord
from bot.state.store import StateStore

log = logging.getLogger(__name__)

GUARD_PURPOSE = "guard_exit"


@dataclass(frozen=True)
class GuardAction:
    symbol: str
    reason: str  # "stop", "time" or "orphan"
    quantity: float  # base units sent (0 when skipped)
    status: str  # OrderStatus value, or "skipped"
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

    def __init__(self, follower: Follower, store: StateStore, settings: Settings, clock: Clock | None = None) -> None:
        self.follower = follower
        self.store = store
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

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
        """Whether the master fully closed this symbol after the copy was bought (the close found nothing to copy)."""
        closes = self.store.signals(self.broker_name, symbol=position.symbol, side=str(Side.SELL),
                                    since=position.opened_at)
        return any(is_full_close(s.fraction_sold or 0.0) for s in closes)

    def _client_order_id(self, position: PositionRecord) -> tuple[str, OrderRecord | None]:
        """The id of this position's guard exit: reused while an earlier attempt may exist, new after a refusal."""
        attempt = 1
        while True:
            coid = derived_client_order_id(
                "guard", self.follower.label, position.symbol, repr(position.opened_at), str(attempt)
            )
            known = self.store.get_order(coid)
            if known is None or known.status not in (OrderStatus.REJECTED, OrderStatus.CANCELED):
                return coid, known
            attempt += 1

    def _exit(self, position: PositionRecord, reason: str, price: float) -> GuardAction:
        broker = self.follower.broker
        account_id = self.follower.account_id
        with position_lock(self.broker_name, account_id):
            current = self.store.get_position(self.broker_name, account_id, position.symbol)
            if current is None or current.opened_at != position.opened_at:
                return GuardAction(position.symbol, reason, 0.0, "skipped", detail="position closed meanwhile")
            coid, known = self._client_order_id(current)
            result: OrderResult | None = None
            if known is not None:  # an earlier attempt may be on the exchange: never send twice
                try:
                    result = broker.get_order(coid, current.symbol)
                except TransientError as error:
                    return GuardAction(current.symbol, reason, 0.0, str(OrderStatus.IN_FLIGHT), coid, str(error))
            if result is None:
                market = broker.market(current.symbol)
                held = broker.balances().assets.get(market.base)
                quantity = min(current.quantity, float(held.available) if held is not None else 0.0)
                request = OrderRequest(current.symbol, Side.SELL, coid, base_qty=decimal_amount(quantity))
                try:
                    request = broker.prepare_order(request, price)
                except OrderRejected as rejected:
                    log.warning("%s guard cannot sell %s: %s", self.follower.label, current.symbol, rejected)
                    return GuardAction(current.symbol, reason, 0.0, "skipped", coid, str(rejected))
                self.store.record_order(
                    OrderRecord(coid, self.broker_name, account_id, current.symbol, str(Side.SELL),
                                str(OrderStatus.IN_FLIGHT), requested_base=float(request.base_qty or 0),
                                purpose=GUARD_PURPOSE,
                                signal_id=current.source_signal_id, reason=reason)
                )
                result = broker.place_order(request)
            self.store.record_order_result(self.broker_name, account_id, result, purpose=GUARD_PURPOSE)
            if result.status is OrderStatus.FILLED:
                self._apply_sale(current, result)
            log.warning("%s guard %s exit %s: %s %g @ %s", self.follower.label, reason, current.symbol,
                        result.status, result.filled_base, result.avg_price)
            return GuardAction(current.symbol, reason, float(result.filled_base), str(result.status), coid,
                               result.reason)

    def _apply_sale(self, position: PositionRecord, result: OrderResult) -> None:
        with self.store.transaction():
            self.store.record_fill(
                FillRecord(
                    fill_id=f"order:{result.client_order_id}", broker=self.broker_name,
                    account_id=self.follower.account_id, client_order_id=result.client_order_id,
                    symbol=result.symbol, side=str(result.side), base_qty=float(result.filled_base),
                    price=float(result.avg_price), fee_quote=float(result.fee_quote),
                    time=result.time or self.clock.now(),
                    exchange_order_id=result.exchange_order_id,
                )
            )
            # Stop and time exits close the whole position (all of it that was really held).
            self.store.delete_position(self.broker_name, self.follower.account_id, position.symbol)
