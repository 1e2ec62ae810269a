"""An account that runs APEX (a master, or an independent user): it turns the pure strategy's decisions
into orders on its own Broker and books the results in the state store.

Exits are checked on every pass (monitoring and strategy alike) before, and whatever, the entry
gates say; entries happen only on the strategy pass and only through plan_entries' gates
(ENTRY_BLOCKING, position cap, one position per symbol). An order whose outcome is unknown
(IN_FLIGHT) stays pending and is settled on later passes, never treated as rejected. A master's
fills become copy signals: one per fill, entries and exits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.brokers.base import (
    BalanceSnapshot,
    Broker,
    OrderRequest,
    OrderResult,
    OrderStatus,
    Side,
    new_client_order_id,
)
from bot.clock import Clock
from bot.config.accounts import AccountConfig
from bot.config.settings import Settings
from bot.copy.engine import CopyEngine
from bot.copy.signal import TradeSignal
from bot.lots import decimal_amount
from bot.state.operator import EntryGate
from bot.state.positions import to_position, to_record
from bot.state.records import FillRecord, OrderRecord, PositionRecord
from bot.state.store import StateStore
from bot.strategy.exits import ExitDecision, Position, apply_exit
from bot.strategy.plan import plan_entries, plan_exits
from bot.strategy.sizing import exit_quantity, size_entry
from bot.trading.market_data import MarketDataService
from bot.trading.pacing import OrderPacer

log = logging.getLogger(__name__)

ENTRY = "entry"
EXIT = "exit"


@dataclass(frozen=True)
class PendingOrder:
    """An order sent whose outcome is not final yet, with what is needed to book it when it settles."""

    result: OrderResult
    purpose: str  # entry | exit
    equity_before: float
    stop_distance: float = 0.0  # entries: entry minus stop of the signal, in quote units
    position_quantity: float = 0.0  # exits: the position's quantity when the sale was decided
    decision: ExitDecision | None = None


class StrategyAccount:
    """The work of one APEX account's thread; everything it holds belongs to that thread alone."""

    runs_strategy = True

    def __init__(
        self,
        account: AccountConfig,
        broker: Broker,
        store: StateStore,
        settings: Settings,
        clock: Clock,
        market_data: MarketDataService,
        symbols: Callable[[], Sequence[str]],
        pacer: OrderPacer,
        *,
        copy_engine: CopyEngine | None = None,
        beat_master: bool = False,
        on_balance: Callable[[BalanceSnapshot, int], None] | None = None,
        entry_gate: EntryGate | None = None,
    ) -> None:
        if broker.name and broker.name != account.broker:
            raise ValueError(f"{account.label} was given a {broker.name} broker")
        if copy_engine is not None and copy_engine.broker_name != account.broker:
            raise ValueError(f"{account.label} was given the {copy_engine.broker_name} copy engine")
        self.account = account
        self.broker = broker
        self.store = store
        self.settings = settings
        self.clock = clock
        self.market_data = market_data
        self.symbols = symbols
        self.pacer = pacer
        self.copy_engine = copy_engine
        self.beat_master = beat_master
        self.on_balance = on_balance
        self.entry_gate = entry_gate
        self.snapshot: BalanceSnapshot | None = None
        self._equity = 0.0
        self.pending: dict[str, PendingOrder] = {}
        self._load_pending()

    @property
    def label(self) -> str:
        return self.account.label

    def equity(self) -> float:
        """The last equity read (kept while a fill makes the snapshot stale, so the pace does not flap)."""
        return self._equity

    # ---- passes ---------------------------------------------------------------------------------
    def monitor_pass(self) -> None:
        self._heartbeat()  # alive from the start of the pass: a long pass is not "master offline"
        self._refresh()
        self._settle_pending()
        self._exits()
        self._heartbeat()

    def strategy_pass(self) -> None:
        self._heartbeat()
        self._refresh()
        self._settle_pending()
        self._exits()
        self._entries()
        self._heartbeat()

    def _refresh(self) -> BalanceSnapshot:
        self.snapshot = self.broker.balances()
        self._equity = self.snapshot.equity
        if self.on_balance is not None:
            self.on_balance(self.snapshot, len(self.positions()))
        return self.snapshot

    def _heartbeat(self) -> None:
        if self.beat_master:
            self.store.beat_master(self.account.broker, self.account.account_id, at=self.clock.now())

    def positions(self) -> list[PositionRecord]:
        return self.store.positions(self.account.broker, self.account.account_id)

    # ---- exits: every pass, no gate ---------------------------------------------------------------
    def _exits(self) -> None:
        records = {p.symbol: p for p in self.positions()}
        busy = {p.result.symbol for p in self.pending.values() if p.purpose == EXIT}
        symbols = [s for s in records if s not in busy]
        if not symbols:
            return
        tickers = self.broker.tickers(symbols)
        prices = {s: (t.bid if t.bid > 0 else t.last) for s, t in tickers.items()}
        lasts = self.market_data.last_candles(symbols)
        now = self.clock.now()
        decisions = plan_exits(
            [to_position(records[s]) for s in symbols], lasts, now, self.settings.strategy, prices,
            fee_rates={s: self.broker.market(s).taker_fee for s in symbols},
        )
        for decision in decisions:
            record = records[decision.symbol]
            position = to_position(record)
            if not decision.sells:
                updated = apply_exit(position, decision, 0.0)
                if updated is not None and updated != position:
                    self.store.save_position(self._record(updated, record))
                continue
            if not self.broker.market_is_open(decision.symbol):
                # A stock exit cannot execute while its market is closed; it is decided again next pass.
                log.debug("exit of %s (%s) waits for its market to open", decision.symbol, decision.reason)
                continue
            if not self._sell(record, position, decision, prices.get(decision.symbol, decision.trigger_price)):
                return  # stopping

    def _sell(self, record: PositionRecord, position: Position, decision: ExitDecision, price: float) -> bool:
        market = self.broker.market(position.symbol)
        snapshot = self.snapshot or self._refresh()
        held = snapshot.assets.get(market.base)
        available = float(held.available) if held is not None else 0.0
        quantity, problem = exit_quantity(
            min(position.quantity, available), decision.sell_fraction, price,
            min_notional=float(market.min_notional), min_base_qty=float(market.min_base_qty),
            base_decimals=market.base_decimals,
        )
        if problem:
            log.warning("exit of %s (%s) not possible: %s", position.symbol, decision.reason, problem)
            return True
        if not self.pacer.wait_turn():
            return False
        request = OrderRequest(position.symbol, Side.SELL, new_client_order_id(), base_qty=decimal_amount(quantity))
        pending = PendingOrder(
            OrderResult(request.client_order_id, request.symbol, Side.SELL, OrderStatus.IN_FLIGHT),
            EXIT, snapshot.equity, position_quantity=position.quantity, decision=decision,
        )
        log.info("EXIT %s %s: selling %g %s at about %g", position.symbol, decision.reason,
                 quantity, market.base, price)
        self._send(request, pending, requested_base=quantity)
        return True

    # ---- entries: strategy pass only, through the gates ---------------------------------------------
    def _entries(self) -> None:
        paused = self.entry_gate(self.account.broker, self.account.account_id) if self.entry_gate else None
        if paused:  # an operator's control (issue 12); the exits of this pass have already run
            log.debug("no new entries: %s", paused)
            return
        signals = self.market_data.scan(self.symbols())
        if not signals:
            return
        held = [p.symbol for p in self.positions()]
        held += [p.result.symbol for p in self.pending.values() if p.purpose == ENTRY]
        plan = plan_entries(
            signals, held, max_positions=self.settings.general.max_concurrent_positions,
            entry_blocking=self.settings.general.entry_blocking, strategy=self.settings.strategy,
            fee_rates={sig.symbol: self.broker.market(sig.symbol).taker_fee for sig in signals},
        )
        for symbol, reason in plan.skipped:
            log.info("no entry on %s: %s", symbol, reason)
        for signal in plan.entries:
            if not self.broker.market_is_open(signal.symbol):
                log.info("no entry on %s: its market is closed now", signal.symbol)
                continue
            market = self.broker.market(signal.symbol)
            snapshot = self._refresh()
            size = size_entry(
                snapshot.equity, snapshot.cash_available, signal.price, signal.stop_price, self.settings.strategy,
                min_notional=float(market.min_notional), min_base_qty=float(market.min_base_qty),
                base_decimals=market.base_decimals, fee_rate=market.taker_fee,
            )
            if size.skipped:
                log.info("entry on %s %s", signal.symbol, size.reason)
                continue
            if not self.pacer.wait_turn():
                return
            notional = math.floor(size.notional * 100) / 100  # whole cents, never above the sized amount
            request = OrderRequest(signal.symbol, Side.BUY, new_client_order_id(),
                                   quote_notional=decimal_amount(notional))
            pending = PendingOrder(
                OrderResult(request.client_order_id, request.symbol, Side.BUY, OrderStatus.IN_FLIGHT),
                ENTRY, snapshot.equity, stop_distance=signal.price - signal.stop_price,
            )
            log.info("ENTRY %s: buying %.2f %s (about %g %s at %g), stop %g, confidence %.2f",
                     signal.symbol, request.quote_notional, market.quote, size.base_qty, market.base,
                     signal.price, signal.stop_price, signal.confidence)
            self._send(request, pending, requested_quote=notional)

    # ---- orders ------------------------------------------------------------------------------------
    def _send(
        self, request: OrderRequest, pending: PendingOrder, *,
        requested_base: float | None = None, requested_quote: float | None = None,
    ) -> None:
        # Stored before it is sent: a crash during the call leaves a record that start-up settles.
        self.store.record_order(
            OrderRecord(
                client_order_id=request.client_order_id, broker=self.account.broker,
                account_id=self.account.account_id, symbol=request.symbol, side=str(request.side),
                status=str(OrderStatus.IN_FLIGHT), requested_base=requested_base, requested_quote=requested_quote,
                purpose=pending.purpose,
            )
        )
        result = self.broker.place_order(request)
        self._booked(replace(pending, result=result))

    def _booked(self, pending: PendingOrder) -> None:
        """Record an order's latest result; book its fill when final; keep it pending otherwise."""
        result = pending.result
        self.store.record_order_result(self.account.broker, self.account.account_id, result, purpose=pending.purpose)
        coid = result.client_order_id
        if not result.status.is_final:
            if coid not in self.pending:
                log.warning("order %s %s %s not settled yet (%s); it is looked up on the next passes",
                            coid[:8], result.side, result.symbol, result.reason or result.status)
            self.pending[coid] = pending
            return
        self.pending.pop(coid, None)
        if result.filled_base <= 0:
            log.warning("order %s %s %s %s: %s", coid[:8], result.side, result.symbol,
                        result.status, result.reason)
            return
        self.snapshot = None  # balances changed
        if pending.purpose == ENTRY:
            self._entry_filled(pending, result)
        else:
            self._exit_filled(pending, result)

    def _settle_pending(self) -> None:
        for pending in list(self.pending.values()):
            self._booked(replace(pending, result=self.broker.settle(pending.result)))

    def _load_pending(self) -> None:
        """Orders a previous run left unsettled: settled on the first pass, with cautious defaults."""
        unsettled = (str(OrderStatus.IN_FLIGHT), str(OrderStatus.OPEN), str(OrderStatus.PARTIALLY_FILLED))
        for order in self.store.orders(self.account.broker, self.account.account_id, statuses=unsettled):
            if order.purpose not in (ENTRY, EXIT):
                continue
            position = self.store.get_position(self.account.broker, self.account.account_id, order.symbol)
            result = OrderResult(order.client_order_id, order.symbol, Side(order.side), OrderStatus(order.status),
                                 exchange_order_id=order.exchange_order_id)
            self.pending[order.client_order_id] = PendingOrder(
                result, order.purpose, 0.0, position_quantity=position.quantity if position else 0.0,
            )

    def _fill_record(self, result: OrderResult) -> None:
        self.store.record_fill(
            FillRecord(
                fill_id=f"order:{result.client_order_id}", broker=self.account.broker,
                account_id=self.account.account_id, client_order_id=result.client_order_id, symbol=result.symbol,
                side=str(result.side), base_qty=float(result.filled_base), price=float(result.avg_price),
                fee_quote=float(result.fee_quote), time=result.time or self.clock.now(),
                exchange_order_id=result.exchange_order_id,
            )
        )

    def _entry_filled(self, pending: PendingOrder, result: OrderResult) -> None:
        price = float(result.avg_price)
        filled = float(result.base_delta)  # what the account received (net of a fee taken in the coin)
        # A run that restarted lost the signal's stop: use the widest stop the strategy allows.
        distance = pending.stop_distance or price * self.settings.strategy.stop_max_fraction
        stop = max(price - distance, price * (1.0 - self.settings.strategy.stop_max_fraction))
        now = result.time or self.clock.now()
        with self.store.transaction():
            self._fill_record(result)
            existing = self.store.get_position(self.account.broker, self.account.account_id, result.symbol)
            if existing is None:
                position = Position.open(result.symbol, price, filled, stop, now)
                self.store.save_position(to_record(self.account.broker, self.account.account_id, position))
            else:  # a second fill of the same symbol (a settled retry): average in
                quantity = existing.quantity + filled
                entry = (existing.entry_price * existing.quantity + price * filled) / quantity
                self.store.save_position(replace(existing, quantity=quantity, entry_price=entry,
                                                 initial_quantity=existing.initial_quantity + filled))
        log.info("ENTRY FILLED %s: %g @ %g = %.2f USD (fee %.2f), stop %g", result.symbol,
                 result.filled_base, price, result.filled_quote, result.fee_quote, stop)
        self._signal(pending, result, master_stop_price=stop)

    def _exit_filled(self, pending: PendingOrder, result: OrderResult) -> None:
        record = self.store.get_position(self.account.broker, self.account.account_id, result.symbol)
        filled = float(-result.base_delta)  # what left the account
        held_before = pending.position_quantity or (record.quantity if record else filled)
        full = pending.decision is not None and pending.decision.sell_fraction >= 1
        fraction = 1.0 if full else min(filled / held_before, 1.0) if held_before > 0 else 1.0
        with self.store.transaction():
            self._fill_record(result)
            if record is not None:
                position = to_position(record)
                remaining = None
                if not full:
                    if pending.decision is not None:
                        remaining = apply_exit(position, pending.decision, filled)
                    elif position.quantity - filled > position.initial_quantity * 1e-9:
                        remaining = replace(position, quantity=position.quantity - filled)
                if remaining is None:
                    self.store.delete_position(self.account.broker, self.account.account_id, result.symbol)
                    fraction = 1.0
                else:
                    self.store.save_position(self._record(remaining, record))
        reason = pending.decision.reason if pending.decision is not None else "exit"
        log.info("EXIT FILLED %s (%s): %g @ %g = %.2f USD, %.0f%% of the position", result.symbol,
                 reason, result.filled_base, result.avg_price, result.filled_quote, fraction * 100)
        self._signal(pending, result, fraction_sold=fraction)

    def _record(self, position: Position, previous: PositionRecord) -> PositionRecord:
        return to_record(self.account.broker, self.account.account_id, position,
                         is_copy=previous.is_copy, source_signal_id=previous.source_signal_id)

    def _signal(
        self, pending: PendingOrder, result: OrderResult, *,
        fraction_sold: float | None = None, master_stop_price: float | None = None,
    ) -> None:
        """One copy signal per master fill; the engine records it before any follower order."""
        if self.copy_engine is None:
            return
        equity = pending.equity_before or (self.snapshot.equity if self.snapshot else self._refresh().equity)
        signal = TradeSignal.from_fill(
            self.account.broker, result, equity,
            fraction_sold=fraction_sold if result.side is Side.SELL else None,
            master_stop_price=master_stop_price if result.side is Side.BUY else None,
        )
        summary = self.copy_engine.on_master_fill(signal)
        for copy in summary.outcomes:
            size = (f"{copy.requested_quote:.2f} USD" if copy.requested_quote is not None
                    else f"{copy.requested_base or 0:g} base")
            log.info("copy -> %s:%s %s %s: %s, %s", self.account.broker, copy.follower_id,
                     result.side.upper(), result.symbol, copy.status, f"{size}; {copy.reason}")
