"""What booking one final order writes, inside the ledger's single transaction (see bot/execution/ledger.py).

Everything is computed from the order's intent row and the exchange's final answer: the fill,
the position (exact quantities and average cost from ``bot.execution.positions``; the strategy's
float price levels beside them), the ``trades`` row when a round trip closes, a master's signal
with one outbox row per follower, and a copy's outbox row. Nothing here sends, sleeps or logs
inside the transaction; ``Booked.log`` says what happened once it is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from bot.brokers.amounts import plain
from bot.brokers.base import MarketInfo, OrderResult, OrderStatus, Side
from bot.config.settings import Settings
from bot.execution.ids import account_label, copy_client_order_id, signal_id_for
from bot.execution.positions import (
    ZERO,
    Holding,
    average_price,
    buy,
    exact,
    fraction_sold,
    is_dust,
    sell,
)
from bot.state.positions import to_position, with_levels
from bot.state.records import (
    CopyRecord,
    CopyStatus,
    FillRecord,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    SignalStatus,
    TradeRecord,
)
from bot.state.store import StateStore
from bot.strategy.exits import ExitDecision, ExitReason, apply_exit

log = logging.getLogger(__name__)

ENTRY, EXIT, COPY_ENTRY, COPY_EXIT, GUARD_EXIT = "entry", "exit", "copy_entry", "copy_exit", "guard_exit"
#: the purposes of a follower's copy orders: the copy dispatcher drives their look-ups from their outbox rows
COPY_PURPOSES: tuple[str, ...] = (COPY_ENTRY, COPY_EXIT)


@dataclass(frozen=True)
class BookingRules:
    """The settings booking needs, read once."""

    stop_max_fraction: float
    copy_default_stop_fraction: float
    settle_first_seconds: float
    settle_max_seconds: float
    copy_retry_seconds: float
    copy_retry_max_seconds: float
    copy_max_delay_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> BookingRules:
        return cls(
            stop_max_fraction=settings.strategy.stop_max_fraction,
            copy_default_stop_fraction=settings.copy_trading.copy_default_stop_fraction,
            settle_first_seconds=settings.exchanges.order_settle_first_seconds,
            settle_max_seconds=settings.exchanges.order_settle_max_seconds,
            copy_retry_seconds=settings.copy_trading.copy_retry_seconds,
            copy_retry_max_seconds=settings.copy_trading.copy_retry_max_seconds,
            copy_max_delay_seconds=settings.copy_trading.copy_max_delay_seconds,
        )


@dataclass(frozen=True)
class Booked:
    """The outcome of one booking (already: the order had been booked before; nothing was written)."""

    order: OrderRecord
    already: bool = False
    fill: FillRecord | None = None
    position: PositionRecord | None = None  # after the booking (None: flat)
    trade: TradeRecord | None = None
    signal: SignalRecord | None = None
    copies: int = 0

    def log(self) -> None:
        """One line per booked order, in the account's log context (the thread that booked it)."""
        if not log.isEnabledFor(logging.INFO):
            return
        order = self.order
        if self.fill is None:
            log.warning("%s order %s %s %s %s: %s", account_label(order.broker, order.account_id),
                        order.client_order_id[:8], order.side, order.symbol, order.status, order.reason)
            return
        fill = self.fill
        held = f"position {plain(self.position.quantity)}" if self.position is not None else "flat"
        pnl = f", realised {fill.realised_pnl:.2f}" if fill.realised_pnl is not None else ""
        log.info("%s FILLED %s: %s @ %s = %.2f (fees %.4f)%s; %s", order.purpose.upper(), order.symbol,
                 plain(fill.base_qty), f"{fill.price:.10g}", fill.quote_qty, fill.fee_quote, pnl, held)
        if self.trade is not None:
            log.info("round trip %s closed: realised %.2f (%s)", order.symbol, self.trade.realised_pnl,
                     self.trade.exit_reasons or "exit")
        if self.signal is not None:
            log.info("signal %s %s %s booked with %d copies to make", self.signal.signal_id[:8],
                     self.signal.side.upper(), self.signal.symbol, self.copies)


def retry_delay(first_seconds: float, max_seconds: float, attempts: int) -> float:
    """Seconds before try number `attempts` + 1: first x 2^(attempts-1), capped (bounded exponent, no overflow)."""
    return min(max_seconds, first_seconds * 2.0 ** min(max(attempts - 1, 0), 60))


def book_order(
    store: StateStore,
    order: OrderRecord,
    result: OrderResult,
    *,
    now: float,
    rules: BookingRules,
    market: MarketInfo | None,
    followers: Sequence[str] = (),
) -> Booked:
    """Book one final answer (inside the caller's transaction); nothing when the order is booked already."""
    execution = result
    when = result.time or now
    final = replace(
        order, status=str(result.status), exchange_order_id=result.exchange_order_id or order.exchange_order_id,
        filled_base=execution.filled_base, filled_quote=execution.filled_quote, avg_price=execution.avg_price,
        fee_quote=execution.fee_quote, fee_base=execution.fee_base, reason=result.reason or order.reason,
        next_check_at=None, updated_at=now,
    )
    if not store.settle_order(final):  # booked before (another thread, an earlier run)
        return Booked(store.get_order(order.client_order_id) or final, already=True)
    if execution.filled_base <= 0:
        booked = Booked(final)
        if final.purpose in (COPY_ENTRY, COPY_EXIT):
            _copy_unfilled(store, final, result.status, now, rules)
        return booked
    position_before = store.get_position(final.broker, final.account_id, final.symbol)
    if execution.side is Side.BUY:
        booked = _book_buy(store, final, execution, position_before, when, rules)
    else:
        booked = _book_sale(store, final, execution, position_before, when, market)
    if final.plan is not None and final.plan.emits_signal:
        booked = _book_signal(store, booked, execution, position_before, when, followers)
    if final.purpose in (COPY_ENTRY, COPY_EXIT):
        _copy_status(store, final, CopyStatus.FILLED, _copy_fill_reason(final, execution))
    return booked


def never_placed(store: StateStore, order: OrderRecord, now: float, rules: BookingRules) -> Booked:
    """Book an order the exchange conclusively does not know after the grace period: it never executed."""
    final = replace(order, status=str(OrderStatus.REJECTED), next_check_at=None, updated_at=now,
                    reason=f"never reached the exchange: no order with client id {order.client_order_id}")
    if not store.settle_order(final):
        return Booked(store.get_order(order.client_order_id) or final, already=True)
    if final.purpose in (COPY_ENTRY, COPY_EXIT):
        _copy_retry(store, final, now, rules, "its order never reached the exchange")
    return Booked(final)


# ---- fills and positions ---------------------------------------------------------------------------
def _fill(order: OrderRecord, execution: OrderResult, when: float, trade_id: str | None,
          realised: Decimal | None) -> FillRecord:
    return FillRecord(
        fill_id=f"order:{order.client_order_id}", broker=order.broker, account_id=order.account_id,
        client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,
        base_qty=execution.filled_base, price=execution.avg_price, quote_qty=execution.filled_quote,
        fee_quote=execution.fee_quote, fee_base=execution.fee_base, realised_pnl=realised, trade_id=trade_id,
        time=when, exchange_order_id=order.exchange_order_id,
    )


def _entry_stop(order: OrderRecord, price: float, rules: BookingRules) -> float:
    """The protective stop of a position opened by this buy: the planned one, never made up."""
    plan = order.plan
    widest = price * (1.0 - rules.stop_max_fraction)
    if order.purpose == COPY_ENTRY:
        master_fill = plan.master_fill_price if plan is not None and plan.master_fill_price else price
        master_stop = plan.copy_stop if plan is not None else None
        return copy_stop_price(price, master_fill, master_stop, rules.copy_default_stop_fraction)
    if plan is None or not plan.stop_distance:
        # Only an order a version-1 store left unsettled has no plan: the widest stop the strategy allows.
        log.warning("%s %s: no planned stop recorded with the order; using the widest allowed stop",
                    account_label(order.broker, order.account_id), order.symbol)
        return widest
    return max(price - plan.stop_distance, widest)


def copy_stop_price(
    follower_fill: float, master_fill: float, master_stop: float | None, default_stop_fraction: float
) -> float:
    """A copied position's own protective stop.

    The master's stop level when it is below the follower's fill; when the follower filled at or
    under that level, the same distance below its own fill that the master had; without a master
    stop, the settings default fraction below the fill.
    """
    if master_stop is not None and 0 < master_stop < follower_fill:
        return master_stop
    if master_stop is not None and 0 < master_stop < master_fill:
        return follower_fill * (master_stop / master_fill)
    return follower_fill * (1.0 - default_stop_fraction)


def _book_buy(
    store: StateStore, order: OrderRecord, execution: OrderResult, before: PositionRecord | None, when: float,
    rules: BookingRules,
) -> Booked:
    price = float(execution.avg_price)
    received = execution.base_delta
    stop = _entry_stop(order, price, rules)
    if before is None:
        holding = buy(Holding(), execution)
        position = PositionRecord(
            broker=order.broker, account_id=order.account_id, symbol=order.symbol, entry_price=price,
            quantity=holding.quantity, initial_quantity=holding.quantity, stop_price=stop, initial_stop=stop,
            risk_per_unit=price - stop, opened_at=when, highest_close=price, is_copy=order.purpose == COPY_ENTRY,
            source_signal_id=order.signal_id, cost_quote=holding.cost, trade_id=order.client_order_id,
        )
    else:  # averaging in (a copy of a second master buy of the symbol)
        holding = buy(Holding(before.quantity, before.cost_quote), execution)
        entry = float(average_price(before.quantity, exact(before.entry_price), received, execution.avg_price))
        stop = min(stop, before.stop_price)
        position = replace(
            before, entry_price=entry, quantity=holding.quantity, cost_quote=holding.cost,
            initial_quantity=before.initial_quantity + received, stop_price=stop,
            risk_per_unit=max(entry - stop, 0.0), source_signal_id=before.source_signal_id or order.signal_id,
        )
    store.save_position(position)
    fill = _fill(order, execution, when, position.trade_id, None)
    store.record_fill(fill)
    return Booked(order, fill=fill, position=position)


def _book_sale(
    store: StateStore, order: OrderRecord, execution: OrderResult, before: PositionRecord | None, when: float,
    market: MarketInfo | None,
) -> Booked:
    if before is None:
        log.warning("%s sold %s %s with no position booked; the fill is recorded, no position changes",
                    account_label(order.broker, order.account_id), execution.filled_base, order.symbol)
        fill = _fill(order, execution, when, None, None)
        store.record_fill(fill)
        return Booked(order, fill=fill)
    sale = sell(Holding(before.quantity, before.cost_quote), execution)
    fill = _fill(order, execution, when, before.trade_id, sale.realised_pnl)
    store.record_fill(fill)
    left = sale.remaining.quantity
    dust = market is not None and is_dust(left, execution.avg_price, exact(market.min_base_qty),
                                          exact(market.min_notional))
    if left <= 0 or dust:
        if dust:
            log.info("%s %s: %s left is under the exchange minimum and can never be sold; position closed",
                     account_label(order.broker, order.account_id), order.symbol, left)
        store.delete_position(order.broker, order.account_id, order.symbol)
        trade = _close_trade(store, before, when)
        return Booked(order, fill=fill, position=None, trade=trade)
    position = replace(_after_exit_levels(before, order, execution), quantity=left, cost_quote=sale.remaining.cost)
    store.save_position(position)
    return Booked(order, fill=fill, position=position)


def _after_exit_levels(before: PositionRecord, order: OrderRecord, execution: OrderResult) -> PositionRecord:
    """A strategy part exit moves the stop (break-even after the first target) as the strategy planned it."""
    plan = order.plan
    if order.purpose != EXIT or plan is None or plan.exit_reason is None:
        return before
    try:
        reason = ExitReason(plan.exit_reason)
    except ValueError:
        return before
    decision = ExitDecision(
        symbol=before.symbol, sell_fraction=plan.sell_fraction or 0.0, reason=reason,
        trigger_price=float(execution.avg_price), stop_price=plan.keep_stop or before.stop_price,
        highest_close=plan.highest_close or before.highest_close,
    )
    moved = apply_exit(to_position(before), decision, float(execution.filled_base))
    return with_levels(before, moved) if moved is not None else before


def _close_trade(store: StateStore, position: PositionRecord, when: float) -> TradeRecord:
    """The round trip's row, from its fills (all of them carry its trade id)."""
    fills = store.fills(position.broker, position.account_id, trade_id=position.trade_id)
    buys = [f for f in fills if f.side == "buy"]
    sales = [f for f in fills if f.side != "buy"]
    bought = sum((f.base_qty for f in buys), ZERO)
    sold = sum((f.base_qty for f in sales), ZERO)
    reasons = []
    for fill in sales:
        sale_order = store.get_order(fill.client_order_id)
        reason = (sale_order.plan.exit_reason if sale_order and sale_order.plan and sale_order.plan.exit_reason
                  else sale_order.purpose if sale_order else "")
        if reason:
            reasons.append(reason)
    trade = TradeRecord(
        trade_id=position.trade_id or f"{position.account_id}-{position.symbol}-{position.opened_at!r}",
        broker=position.broker, account_id=position.account_id, symbol=position.symbol,
        opened_at=position.opened_at, closed_at=when,
        quantity=sum((f.base_delta for f in buys), ZERO),
        avg_entry=sum((f.quote_qty for f in buys), ZERO) / bought if bought else exact(position.entry_price),
        avg_exit=sum((f.quote_qty for f in sales), ZERO) / sold if sold else ZERO,
        fees_quote=sum((f.fee_quote + f.fee_base * f.price for f in fills), ZERO),
        realised_pnl=sum((f.realised_pnl or ZERO for f in sales), ZERO),
        exit_reasons=",".join(reasons), is_copy=position.is_copy, source_signal_id=position.source_signal_id,
    )
    store.save_trade(trade)
    return trade


# ---- signals and the copy outbox -------------------------------------------------------------------
def _book_signal(
    store: StateStore, booked: Booked, execution: OrderResult, before: PositionRecord | None, when: float,
    followers: Sequence[str],
) -> Booked:
    """A master fill's signal and one planned copy per follower, in the booking's transaction."""
    order = booked.order
    plan = order.plan
    assert plan is not None
    signal_id = signal_id_for(order.broker, order.client_order_id)
    if execution.side is Side.BUY:
        notional = -execution.quote_delta  # what the master spent, fee included: followers spend the same share
        fraction = None
        stop = booked.position.initial_stop if booked.position is not None and before is None else (
            booked.position.stop_price if booked.position is not None else None)
    else:
        notional = execution.quote_delta
        held_before = plan.position_quantity if plan.position_quantity else (before.quantity if before else ZERO)
        sold = -execution.base_delta
        fraction = Decimal(1) if booked.position is None else fraction_sold(sold, held_before)
        stop = None
    signal = SignalRecord(
        signal_id=signal_id, broker=order.broker, symbol=order.symbol, side=order.side,
        fill_price=execution.avg_price, filled_base=execution.filled_base, quote_notional=notional,
        master_order_id=order.exchange_order_id or order.client_order_id, master_equity=plan.equity_before,
        time=when, fraction_sold=fraction, master_stop_price=stop, master_client_order_id=order.client_order_id,
        status=SignalStatus.PENDING if followers else SignalStatus.DONE,
        summary=None if followers else {"processed": 0, "followers": []}, completed_at=None if followers else when,
    )
    stored, created = store.record_signal(signal)
    if not created:
        return replace(booked, signal=None)
    for follower_id in followers:
        store.add_copy(CopyRecord(
            signal_id=signal_id, broker=order.broker, follower_id=follower_id, status=CopyStatus.PLANNED,
            client_order_id=copy_client_order_id(signal_id, account_label(order.broker, follower_id)),
            side=order.side, symbol=order.symbol, next_attempt_at=when, created_at=when,
        ))
    return replace(booked, signal=stored, copies=len(followers))


def _copy_fill_reason(order: OrderRecord, execution: OrderResult) -> str:
    done = f"{order.side} {plain(execution.filled_base)} @ {execution.avg_price:.10g}"
    return f"{done}; {order.reason}" if order.reason else done


def _copy_status(store: StateStore, order: OrderRecord, status: CopyStatus, reason: str) -> None:
    if order.signal_id is not None:
        store.finish_copy(order.signal_id, order.account_id, order.client_order_id, status, reason)


def _copy_of(store: StateStore, order: OrderRecord) -> CopyRecord | None:
    if order.signal_id is None:
        return None
    copy = store.get_copy(order.signal_id, order.account_id)
    return copy if copy is not None and copy.client_order_id == order.client_order_id else None


def _copy_unfilled(store: StateStore, order: OrderRecord, status: OrderStatus, now: float,
                   rules: BookingRules) -> None:
    """A copy's order that filled nothing: refused is a permanent failure; cancelled exits are tried again."""
    if status is OrderStatus.CANCELED and order.purpose == COPY_EXIT:
        _copy_retry(store, order, now, rules, f"its order was cancelled ({order.reason or 'by the exchange'})")
        return
    _copy_status(store, order, CopyStatus.FAILED, order.reason or str(status))


def _copy_retry(store: StateStore, order: OrderRecord, now: float, rules: BookingRules, why: str) -> None:
    """Back to the outbox: planned again (same client order id), unless an entry has gone stale."""
    copy = _copy_of(store, order)
    if copy is None or copy.status.is_final:
        return
    signal = store.get_signal(copy.signal_id)
    if order.purpose == COPY_ENTRY and signal is not None and now - signal.time > rules.copy_max_delay_seconds:
        store.save_copy(replace(copy, status=CopyStatus.SKIPPED, updated_at=now,
                                reason=f"stale: {why} and COPY_MAX_DELAY_SECONDS has passed since the master's fill"))
        return
    attempts = copy.attempts + 1
    delay = retry_delay(rules.copy_retry_seconds, rules.copy_retry_max_seconds, attempts)
    store.save_copy(replace(copy, status=CopyStatus.PLANNED, attempts=attempts, updated_at=now,
                            next_attempt_at=now + delay, reason=f"retrying: {why}"))
