"""The copy engine: one master fill -> one stored signal -> one order per follower, exactly once.

Order of events, each written to the state store before the next happens, so a kill at any point
is resumed without a second order:

1. the signal is stored (unique per master fill) before any follower is touched;
2. per follower, the planned copy is stored with its deterministic client order id and its size;
3. the copy is marked SENT (and its order recorded), then the order goes out through Broker.place_order
   (for a new copy, 2 and 3 are one transaction: the copy is stored as SENT with its order row);
4. the outcome (and the follower's copied position) is stored, in one transaction.

On restart ``resume_pending`` finds signals whose fan-out did not finish. A copy that was planned
or sent is first looked up on the exchange by its client order id; it is sent only when the
exchange says conclusively that no such order exists.

Followers are sent their orders concurrently from a thread pool; each follower's work is
independent and its failure is recorded against that follower only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal

from bot.brokers.base import OrderRequest, OrderResult, OrderStatus, Side, derived_client_order_id
from bot.brokers.errors import BrokerError, MarketNotFound, OrderRejected, TransientError
from bot.clock import Clock, SystemClock
from bot.config.settings import Settings
from bot.copy.followers import Follower, is_follower_of, position_lock
from bot.copy.signal import TradeSignal
from bot.copy.sizing import follower_entry_notional, follower_exit_quantity, is_full_close
from bot.logsetup import account_context
from bot.lots import decimal_amount
from bot.state.operator import EntryGate
from bot.state.records import (
    CopyEventRecord,
    CopyStatus,
    FillRecord,
    OrderRecord,
    PositionRecord,
    SignalRecord,
    SignalStatus,
)
from bot.state.store import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopyOutcome:
    """What happened to one follower's copy of one signal."""

    follower_id: str
    status: CopyStatus
    client_order_id: str
    reason: str = ""
    requested_base: float | None = None
    requested_quote: float | None = None
    filled_base: float = 0.0
    avg_price: float = 0.0
    exchange_order_id: str | None = None

    @classmethod
    def from_event(cls, event: CopyEventRecord) -> CopyOutcome:
        return cls(
            follower_id=event.follower_id,
            status=event.status,
            client_order_id=event.client_order_id,
            reason=event.reason,
            requested_base=event.requested_base,
            requested_quote=event.requested_quote,
            filled_base=event.filled_base,
            avg_price=event.avg_price,
            exchange_order_id=event.exchange_order_id,
        )


@dataclass(frozen=True)
class CopySummary:
    """The per-signal summary of docs/rules.md §5."""

    signal_id: str
    broker: str
    symbol: str
    side: str
    outcomes: tuple[CopyOutcome, ...] = field(default_factory=tuple)

    @property
    def processed(self) -> int:
        return len(self.outcomes)

    @property
    def succeeded(self) -> int:
        return sum(1 for o in self.outcomes if o.status is CopyStatus.FILLED)

    @property
    def observed(self) -> int:
        return sum(1 for o in self.outcomes if o.status is CopyStatus.OBSERVED)

    @property
    def skipped(self) -> dict[str, str]:
        return {o.follower_id: o.reason for o in self.outcomes if o.status is CopyStatus.SKIPPED}

    @property
    def failed(self) -> dict[str, str]:
        return {o.follower_id: o.reason for o in self.outcomes if o.status is CopyStatus.FAILED}

    @property
    def pending(self) -> dict[str, str]:
        """Copies whose outcome is not known yet (sent, awaiting a look-up); resumed later."""
        return {o.follower_id: o.reason for o in self.outcomes if not o.status.is_final}

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
                {**asdict(o), "status": str(o.status)} for o in sorted(self.outcomes, key=lambda o: o.follower_id)
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
        return text + ("".join(f"\n  - {d}" for d in details))


def to_signal_record(signal: TradeSignal) -> SignalRecord:
    return SignalRecord(
        signal_id=signal.signal_id,
        broker=signal.broker,
        symbol=signal.symbol,
        side=str(signal.side),
        fill_price=signal.fill_price,
        filled_base=signal.filled_base,
        quote_notional=signal.quote_notional,
        master_order_id=signal.master_order_id,
        master_equity=signal.master_equity,
        time=signal.time,
        fraction_sold=signal.fraction_sold,
        master_stop_price=signal.master_stop_price,
        master_client_order_id=signal.master_client_order_id,
    )


def copy_client_order_id(signal_id: str, follower_label: str) -> str:
    """The one client order id a follower's copy of a signal can ever have."""
    return derived_client_order_id(signal_id, follower_label)


class CopyEngine:
    """Copies one brokerage's master fills to that brokerage's followers."""

    def __init__(
        self,
        broker_name: str,
        store: StateStore,
        settings: Settings,
        followers: Iterable[Follower] = (),
        *,
        clock: Clock | None = None,
        observe_only: bool | None = None,
        entry_gate: EntryGate | None = None,
    ) -> None:
        self.broker_name = broker_name
        self.store = store
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.observe_only = settings.general.copy_observe_only if observe_only is None else observe_only
        self.entry_gate = entry_gate
        self._followers: dict[str, Follower] = {}
        self._pool: ThreadPoolExecutor | None = None
        self.set_followers(followers)

    # ---- followers -------------------------------------------------------------------------------
    def set_followers(self, followers: Iterable[Follower]) -> None:
        """Replace the follower list (accounts that become funded or reachable are added without a restart)."""
        accepted: dict[str, Follower] = {}
        for follower in followers:
            if is_follower_of(follower.account, self.broker_name, self.settings):
                accepted[follower.account_id] = follower
            else:
                log.warning(
                    "%s is not a follower of the %s master (other brokerage, master, disabled, "
                    "copy_from_master false or INDEPENDENT mode); it will not copy", follower.label, self.broker_name,
                )
        self._followers = accepted

    @property
    def followers(self) -> list[Follower]:
        return list(self._followers.values())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.settings.copy_trading.copy_max_parallel,
                thread_name_prefix=f"copy-{self.broker_name}",
            )
        return self._pool

    # ---- the whole path ----------------------------------------------------------------------------
    def on_master_fill(self, signal: TradeSignal) -> CopySummary:
        """Store the signal, then copy it to every follower at once; a repeated fill copies nothing new."""
        if signal.broker != self.broker_name:
            raise ValueError(f"a {signal.broker} signal was given to the {self.broker_name} copy engine")
        record, created = self.record_signal(signal)
        if not created:
            log.info("master fill %s on %s already recorded as signal %s; not copied again",
                     signal.master_order_id, self.broker_name, record.signal_id[:8])
        self.store.beat_master(self.broker_name, at=self.clock.now())
        return self.fan_out(record)

    def resume_pending(self) -> list[CopySummary]:
        """After a restart: finish every signal whose fan-out did not complete (look-ups before any resend)."""
        summaries = []
        for record in self.store.pending_signals(self.broker_name):
            log.info("resuming copy of signal %s (%s %s)", record.signal_id[:8], record.side, record.symbol)
            summaries.append(self.fan_out(record))
        return summaries

    def record_signal(self, signal: TradeSignal) -> tuple[SignalRecord, bool]:
        """Step 1: the signal is in the store before any follower order exists."""
        return self.store.record_signal(to_signal_record(signal))

    def fan_out(self, record: SignalRecord) -> CopySummary:
        """Copy a stored signal to every follower at once; completes the signal when every copy is final."""
        followers = self.followers
        if record.status is SignalStatus.DONE:
            followers = []  # a finished signal is reported from the store, never copied again
        # One read of the copies already made of this signal for all followers: 100 reads, one per follower
        # thread, would queue behind each other on the store's lock before the first order could leave.
        known = {event.follower_id: event for event in self.store.copy_events(signal_id=record.signal_id)}
        futures = {f.account_id: self._executor().submit(self.copy_to, record, f, known) for f in followers}
        outcomes: dict[str, CopyOutcome] = {}
        for follower_id, future in futures.items():
            outcomes[follower_id] = future.result()  # copy_to never raises; every error is an outcome
        # Copies planned for followers no longer configured still count in the summary.
        for event in self.store.copy_events(signal_id=record.signal_id):
            outcomes.setdefault(event.follower_id, CopyOutcome.from_event(event))
        summary = CopySummary(record.signal_id, record.broker, record.symbol, record.side, tuple(outcomes.values()))
        if record.status is not SignalStatus.DONE and summary.complete:
            self.store.complete_signal(record.signal_id, summary.to_dict())
        log.info(summary.line())
        return summary

    # ---- one follower ------------------------------------------------------------------------------
    def copy_to(
        self, record: SignalRecord, follower: Follower, known: Mapping[str, CopyEventRecord] | None = None
    ) -> CopyOutcome:
        """The whole copy of one signal to one follower; idempotent, never raises.

        ``known``: this signal's copies as fan_out read them for every follower at once (None: read here).
        Its log lines carry the follower's label, whichever pool thread runs it.
        """
        with account_context(follower.label):
            try:
                with position_lock(self.broker_name, follower.account_id):
                    return CopyOutcome.from_event(self._copy(record, follower, known))
            except Exception as error:  # one follower's failure must never reach the others
                log.exception("%s copy of signal %s failed", follower.label, record.signal_id[:8])
                return CopyOutcome.from_event(self._failed(record, follower, f"{type(error).__name__}: {error}"))

    def _copy(
        self, record: SignalRecord, follower: Follower, known: Mapping[str, CopyEventRecord] | None
    ) -> CopyEventRecord:
        """Under the follower's position lock: plan and send a new copy, or finish one an earlier run began."""
        if known is None:
            earlier = self.store.get_copy(record.signal_id, follower.account_id)
        else:
            earlier = known.get(follower.account_id)
            if earlier is not None and not earlier.status.is_final:
                # Read before the lock was ours: another thread may have finished it since (resumes only).
                earlier = self.store.get_copy(record.signal_id, follower.account_id)
        if earlier is None:
            event, created = self._plan(record, follower, send=True)
            if created:
                return self._send(record, follower, event) if event.status is CopyStatus.SENT else event
            earlier = event  # planned by another run meanwhile: handled below like any earlier copy
        if earlier.status.is_final:
            return earlier
        # A copy planned by an earlier run may have been sent before a kill: look it up first.
        return self._execute(record, follower, earlier, look_up_first=True)

    def _failed(self, record: SignalRecord, follower: Follower, reason: str) -> CopyEventRecord:
        """Record an unexpected error: final when nothing was sent, else left for the look-up on resume."""
        event = self.store.get_copy(record.signal_id, follower.account_id)
        if event is None or event.status is CopyStatus.PLANNED:
            # Nothing was sent, so nothing can be on the exchange: a final failure is safe.
            failed = self._blank_event(record, follower, CopyStatus.FAILED, reason) if event is None else event
            return self.store.save_copy(replace(failed, status=CopyStatus.FAILED, reason=reason))
        if not event.status.is_final:
            return self.store.save_copy(replace(event, reason=f"outcome unknown, looked up on resume: {reason}"))
        return event

    def plan_copy(self, record: SignalRecord, follower: Follower) -> CopyEventRecord:
        """Step 2: size the copy and store it as PLANNED (or SKIPPED / OBSERVED); an existing plan is returned as is."""
        existing = self.store.get_copy(record.signal_id, follower.account_id)
        if existing is not None:
            return existing
        return self._plan(record, follower, send=False)[0]

    def _plan(self, record: SignalRecord, follower: Follower, *, send: bool) -> tuple[CopyEventRecord, bool]:
        """(stored copy, created): size the copy and store the plan; the first plan of a copy wins.

        With ``send``, a copy to be placed is stored as SENT together with its order record, in one
        transaction: steps 2 and 3 in one write instead of three, each of which would otherwise wait
        for the store's lock behind every other follower's. Nothing can be on the exchange before the
        order leaves, and a SENT copy is looked up before it is ever sent again, so a kill between the
        write and the send is resumed exactly as one after the send.
        """
        coid = copy_client_order_id(record.signal_id, follower.label)
        status, reason, base, quote = self._size(record, follower, coid)
        sending = send and status is CopyStatus.PLANNED
        event = self._blank_event(record, follower, CopyStatus.SENT if sending else status, reason,
                                  client_order_id=coid, requested_base=base, requested_quote=quote)
        if sending:
            with self.store.transaction():
                stored, created = self.store.plan_copy(event)
                if created:
                    self.store.record_order(self._order_record(record, follower, stored))
        else:
            stored, created = self.store.plan_copy(event)
        if created and stored.status is CopyStatus.SKIPPED:
            log.info("%s skips %s %s: %s", follower.label, record.side.upper(), record.symbol, stored.reason)
        elif created and stored.status is CopyStatus.OBSERVED:
            log.warning("COPY_OBSERVE_ONLY: %s would %s %s (%s); nothing placed",
                        follower.label, record.side.upper(), record.symbol, stored.reason)
        return stored, created

    def _blank_event(
        self, record: SignalRecord, follower: Follower, status: CopyStatus, reason: str, *,
        client_order_id: str | None = None, requested_base: float | None = None,
        requested_quote: float | None = None,
    ) -> CopyEventRecord:
        return CopyEventRecord(
            signal_id=record.signal_id,
            broker=self.broker_name,
            follower_id=follower.account_id,
            status=status,
            client_order_id=client_order_id or copy_client_order_id(record.signal_id, follower.label),
            side=record.side,
            symbol=record.symbol,
            reason=reason,
            requested_base=requested_base,
            requested_quote=requested_quote,
        )

    def _size(
        self, record: SignalRecord, follower: Follower, coid: str
    ) -> tuple[CopyStatus, str, float | None, float | None]:
        """(status, reason, base qty, quote notional) of this follower's copy, checked against exchange rules."""
        planned = CopyStatus.OBSERVED if self.observe_only else CopyStatus.PLANNED
        broker = follower.broker
        try:
            market = broker.market(record.symbol)
        except MarketNotFound as error:
            return CopyStatus.SKIPPED, str(error), None, None
        if record.side == Side.BUY:
            paused = self.entry_gate(self.broker_name, follower.account_id) if self.entry_gate else None
            if paused:  # an operator's control (issue 12); exit copies never ask
                return CopyStatus.SKIPPED, paused, None, None
            snapshot = broker.balances()
            size = follower_entry_notional(
                master_notional=record.quote_notional,
                master_equity=record.master_equity,
                follower_equity=snapshot.equity,
                # Keep the taker fee out of the spendable cash so a copy capped at free cash is never refused.
                follower_free_cash=snapshot.cash_available / (1.0 + market.taker_fee),
                risk_multiplier=follower.account.risk_multiplier,
                max_user_risk=self.settings.general.max_user_risk,
            )
            if size.notional <= 0:
                return CopyStatus.SKIPPED, f"nothing to copy with: {size.reason}", None, 0.0
            request = OrderRequest(record.symbol, Side.BUY, coid, quote_notional=decimal_amount(size.notional))
            try:
                prepared = broker.prepare_order(request, record.fill_price)
            except OrderRejected as rejected:
                reason = f"under the exchange minimum: {rejected} ({size.reason})"
                return CopyStatus.SKIPPED, reason, None, size.notional
            reason = f"buy {prepared.quote_notional:.2f} {market.quote}: {size.reason}"
            return planned, reason, None, float(prepared.quote_notional or 0)
        position = self.store.get_position(self.broker_name, follower.account_id, record.symbol)
        if position is None or position.quantity <= 0:
            return CopyStatus.SKIPPED, f"no copied {record.symbol} position to sell", 0.0, None
        fraction = record.fraction_sold or 0.0
        quantity = follower_exit_quantity(fraction, position.quantity, float(market.min_base_qty))
        held = broker.balances().assets.get(market.base)
        available = float(held.available) if held is not None else 0.0
        if available < quantity:
            # Sell what is really there (fees or a manual sale may have reduced it); never more.
            quantity = available
        try:
            request = OrderRequest(record.symbol, Side.SELL, coid, base_qty=decimal_amount(quantity))
            prepared = broker.prepare_order(request, record.fill_price)
        except OrderRejected as rejected:
            return CopyStatus.SKIPPED, f"under the exchange minimum: {rejected}", quantity, None
        assert prepared.base_qty is not None
        what = "all" if is_full_close(fraction) else f"{fraction:.0%}"
        reason = f"sell {float(prepared.base_qty):g} {market.base} ({what} of own {position.quantity:g})"
        return planned, reason, float(prepared.base_qty), None

    def _execute(
        self, record: SignalRecord, follower: Follower, event: CopyEventRecord, *, look_up_first: bool
    ) -> CopyEventRecord:
        """Steps 3-4: look up anything possibly sent before; send only when the exchange has no such order."""
        broker = follower.broker
        if look_up_first or event.status is CopyStatus.SENT:
            try:
                found = broker.get_order(event.client_order_id, event.symbol)
            except TransientError as error:
                return self.store.save_copy(replace(event, reason=f"outcome unknown, look-up failed: {error}"))
            if found is not None:
                log.info("%s copy %s found on the exchange after a restart: %s",
                         follower.label, event.client_order_id, found.status)
                return self._record_result(record, follower, event, found)
        with self.store.transaction():
            event = self.store.save_copy(replace(event, status=CopyStatus.SENT))
            self.store.record_order(self._order_record(record, follower, event))
        return self._send(record, follower, event)

    def _order_record(self, record: SignalRecord, follower: Follower, event: CopyEventRecord) -> OrderRecord:
        """The order row written before a copy is sent, so a crash leaves a trace to look up by client order id."""
        buying = event.side == Side.BUY
        return OrderRecord(
            client_order_id=event.client_order_id, broker=self.broker_name, account_id=follower.account_id,
            symbol=event.symbol, side=event.side, status=str(OrderStatus.IN_FLIGHT),
            requested_base=None if buying else event.requested_base,
            requested_quote=event.requested_quote if buying else None,
            purpose=f"copy_{'entry' if buying else 'exit'}", signal_id=record.signal_id,
        )

    def _send(self, record: SignalRecord, follower: Follower, event: CopyEventRecord) -> CopyEventRecord:
        """Step 3: the order of a copy stored as SENT goes out; its outcome is recorded (step 4)."""
        request = OrderRequest(
            event.symbol, Side(event.side), event.client_order_id,
            base_qty=_exact(event.requested_base) if event.side == Side.SELL else None,
            quote_notional=_exact(event.requested_quote) if event.side == Side.BUY else None,
        )
        try:
            result = follower.broker.place_order(request)
        except BrokerError as error:  # AuthenticationError, MarketNotFound: the exchange refused before executing
            result = OrderResult(event.client_order_id, event.symbol, Side(event.side), OrderStatus.REJECTED,
                                 reason=f"{type(error).__name__}: {error}", time=self.clock.now())
        return self._record_result(record, follower, event, result)

    def _record_result(
        self, record: SignalRecord, follower: Follower, event: CopyEventRecord, result: OrderResult
    ) -> CopyEventRecord:
        """Step 4 in one transaction: the order's outcome, the fill, the follower's position and the copy's status."""
        with self.store.transaction():
            updated = self._store_result(record, follower, event, result)
        if updated.status is CopyStatus.FILLED:
            log.info("%s copied %s %s: %g @ %s (%s)", follower.label, event.side.upper(), event.symbol,
                     result.filled_base, result.avg_price, event.reason)
        elif updated.status is CopyStatus.FAILED:
            log.warning("%s copy of %s %s failed: %s", follower.label, event.side.upper(), event.symbol, result.reason)
        return updated

    def _store_result(
        self, record: SignalRecord, follower: Follower, event: CopyEventRecord, result: OrderResult
    ) -> CopyEventRecord:
        """The store calls of step 4 (inside the caller's transaction)."""
        order = self.store.record_order_result(
            self.broker_name, follower.account_id, result,
            purpose=f"copy_{'entry' if event.side == Side.BUY else 'exit'}", signal_id=record.signal_id,
        )
        common = {"exchange_order_id": result.exchange_order_id or order.exchange_order_id,
                  "filled_base": float(result.filled_base), "avg_price": float(result.avg_price),
                  "fee_quote": float(result.fee_quote)}
        if result.status is OrderStatus.FILLED:
            self._apply_fill(record, follower, result)
            updated = self.store.save_copy(replace(event, status=CopyStatus.FILLED, **common))
        elif result.status in (OrderStatus.REJECTED, OrderStatus.CANCELED):
            updated = self.store.save_copy(
                replace(event, status=CopyStatus.FAILED, reason=result.reason or str(result.status), **common)
            )
        else:
            # IN_FLIGHT, OPEN or PARTIALLY_FILLED: not final; the signal stays pending and is looked up on resume.
            note = f"{result.status}: {result.reason}" if result.reason else str(result.status)
            updated = self.store.save_copy(replace(event, status=CopyStatus.SENT, reason=note, **common))
        return updated

    def _apply_fill(self, record: SignalRecord, follower: Follower, result: OrderResult) -> None:
        """Record the fill and the follower's own copied position (opened, added to, reduced or closed)."""
        now = result.time or self.clock.now()
        self.store.record_fill(
            FillRecord(
                fill_id=f"order:{result.client_order_id}", broker=self.broker_name, account_id=follower.account_id,
                client_order_id=result.client_order_id, symbol=result.symbol, side=str(result.side),
                base_qty=float(result.filled_base), price=float(result.avg_price), fee_quote=float(result.fee_quote),
                time=now,
                exchange_order_id=result.exchange_order_id,
            )
        )
        position = self.store.get_position(self.broker_name, follower.account_id, result.symbol)
        if result.side is Side.BUY:
            self.store.save_position(self._bought(record, follower, result, position, now))
            return
        if position is None:
            return
        remaining = position.quantity - float(-result.base_delta)  # what left the account
        if is_full_close(record.fraction_sold or 0.0) or remaining <= position.initial_quantity * 1e-9:
            self.store.delete_position(self.broker_name, follower.account_id, result.symbol)
        else:
            self.store.save_position(replace(position, quantity=remaining))

    def _bought(
        self, record: SignalRecord, follower: Follower, result: OrderResult, position: PositionRecord | None, now: float
    ) -> PositionRecord:
        price = float(result.avg_price)
        filled = float(result.base_delta)  # what the account received (net of a fee taken in the coin)
        stop = copy_stop_price(price, record.fill_price, record.master_stop_price,
                               self.settings.copy_trading.copy_default_stop_fraction)
        if position is not None:  # adding to a copied position: average the entry, keep the tighter data
            quantity = position.quantity + filled
            entry = (position.entry_price * position.quantity + price * filled) / quantity
            stop = min(stop, position.stop_price)
            return replace(
                position, entry_price=entry, quantity=quantity, initial_quantity=position.initial_quantity
                + filled, stop_price=stop, risk_per_unit=max(entry - stop, 0.0),
                source_signal_id=record.signal_id, is_copy=True,
            )
        return PositionRecord(
            broker=self.broker_name, account_id=follower.account_id, symbol=result.symbol, entry_price=price,
            quantity=filled, initial_quantity=filled, stop_price=stop, initial_stop=stop,
            risk_per_unit=price - stop, opened_at=now, highest_close=price, is_copy=True,
            source_signal_id=record.signal_id,
        )


def copy_stop_price(
    follower_fill: float, master_fill: float, master_stop: float | None, default_stop_fraction: float
) -> float:
    """The copied position's own protective stop.

    The master's stop level when it is below the follower's fill; when the follower filled at or
    under that level, the same distance below its own fill that the master had; without a master
    stop, the settings default fraction below the fill.
    """
    if master_stop is not None and 0 < master_stop < follower_fill:
        return master_stop
    if master_stop is not None and 0 < master_stop < master_fill:
        return follower_fill * (master_stop / master_fill)
    return follower_fill * (1.0 - default_stop_fraction)


def _exact(amount: float | None) -> Decimal | None:
    """A stored float amount as the broker boundary's Decimal (exact for any value read from an exchange)."""
    return None if amount is None else decimal_amount(amount)
