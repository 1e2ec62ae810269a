"""An account that runs APEX (a master, or an independent user): it turns the pure strategy's decisions
into order intents for the execution ledger, which sends, settles and books them.

Every pass first settles this account's orders that are still in flight (look-ups with back-off),
then checks exits on every position (monitoring and strategy passes alike), before and whatever
the entry gates say; entries happen only on the strategy pass and only through plan_entries' gates
(ENTRY_BLOCKING, position cap, one position per symbol). A symbol with an order in flight gets no
new order until that one is booked. A master's intents carry what its signals need (the equity
before the trade, the planned stop, the position a sale was decided on); the ledger books the
signal with the fill.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import ROUND_DOWN, Decimal

from bot.brokers.base import BalanceSnapshot, Broker, Side, new_client_order_id
from bot.clock import Clock
from bot.config.accounts import AccountConfig
from bot.config.settings import Settings
from bot.execution.ledger import UNSETTLED, ExecutionLedger, OrderIntent
from bot.execution.positions import ZERO, exact, sale_quantity
from bot.state.operator import EntryGate
from bot.state.positions import to_position
from bot.state.records import OrderPlan, PositionRecord
from bot.state.store import StateStore
from bot.strategy.apex import EntrySignal
from bot.strategy.exits import ExitDecision, apply_exit
from bot.strategy.plan import plan_entries, plan_exits
from bot.strategy.sizing import size_entry
from bot.trading.market_data import MarketDataService
from bot.trading.pacing import OrderPacer

log = logging.getLogger(__name__)

CENT = Decimal("0.01")


class StrategyAccount:
    """The work of one APEX account's thread; it keeps nothing that a crash would need."""

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
        ledger: ExecutionLedger | None = None,
        emits_signals: bool = False,
        beat_master: bool = False,
        on_balance: Callable[[BalanceSnapshot, int], None] | None = None,
        entry_gate: EntryGate | None = None,
    ) -> None:
        if broker.name and broker.name != account.broker:
            raise ValueError(f"{account.label} was given a {broker.name} broker")
        self.account = account
        self.broker = broker
        self.store = store
        self.settings = settings
        self.clock = clock
        self.market_data = market_data
        self.symbols = symbols
        self.pacer = pacer
        self.ledger = ledger or ExecutionLedger(store, settings, clock)
        self.emits_signals = emits_signals
        self.beat_master = beat_master
        self.on_balance = on_balance
        self.entry_gate = entry_gate
        self.snapshot: BalanceSnapshot | None = None
        self._equity = 0.0
        self._skips_said: dict[str, tuple[float, str]] = {}  # symbol -> (signal candle, reason) last logged

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
        self._settle()
        self._exits()
        self._heartbeat()

    def strategy_pass(self) -> None:
        self._heartbeat()
        self._refresh()
        self._settle()
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

    def _settle(self) -> None:
        settled = self.ledger.settle_due(self.account.broker, self.account.account_id, self.broker)
        if any(o.status not in UNSETTLED for o in settled):
            self.snapshot = None  # something was booked: balances changed

    def positions(self) -> list[PositionRecord]:
        return self.store.positions(self.account.broker, self.account.account_id)

    def _busy_symbols(self) -> set[str]:
        """Symbols with an order in flight: no second order until that one is booked."""
        return {o.symbol for o in self.ledger.unsettled(self.account.broker, self.account.account_id)}

    def _intent(self, symbol: str, side: Side, purpose: str, plan: OrderPlan, *, reason: str,
                base_qty: Decimal | None = None, quote_notional: Decimal | None = None) -> OrderIntent:
        return OrderIntent(self.account.broker, self.account.account_id, symbol, side, purpose, new_client_order_id(),
                           base_qty=base_qty, quote_notional=quote_notional, plan=plan, reason=reason)

    # ---- exits: every pass, no gate ---------------------------------------------------------------
    def _exits(self) -> None:
        records = {p.symbol: p for p in self.positions()}
        busy = self._busy_symbols()
        symbols = [s for s in records if s not in busy]
        if not symbols:
            return
        tickers = self.broker.tickers(symbols)
        prices = {s: (t.bid if t.bid > 0 else t.last) for s, t in tickers.items()}
        lasts = self.market_data.last_candles(symbols)
        decisions = plan_exits(
            [to_position(records[s]) for s in symbols], lasts, self.clock.now(), self.settings.strategy, prices,
            fee_rates={s: self.broker.market(s).taker_fee for s in symbols},
        )
        for decision in decisions:
            record = records[decision.symbol]
            if not decision.sells:
                moved = apply_exit(to_position(record), decision, 0.0)
                if moved is not None and moved != to_position(record):
                    self.ledger.update_levels(record, moved)
                continue
            if not self.broker.market_is_open(decision.symbol):
                # A stock exit cannot execute while its market is closed; it is decided again next pass.
                log.debug("exit of %s (%s) waits for its market to open", decision.symbol, decision.reason)
                continue
            if not self._sell(record, decision, prices.get(decision.symbol, decision.trigger_price)):
                return  # stopping

    def _sell(self, record: PositionRecord, decision: ExitDecision, price: float) -> bool:
        market = self.broker.market(record.symbol)
        snapshot = self.snapshot or self._refresh()
        held = snapshot.assets.get(market.base)
        quantity, problem = sale_quantity(
            record.quantity, exact(held.available) if held is not None else ZERO, exact(decision.sell_fraction),
            price=exact(price), lot_decimals=market.base_decimals, min_base_qty=exact(market.min_base_qty),
            min_notional=exact(market.min_notional),
        )
        if problem:
            log.warning("exit of %s (%s) not possible: %s", record.symbol, decision.reason, problem)
            return True
        if not self.pacer.wait_turn():
            return False
        plan = OrderPlan(
            equity_before=snapshot.equity, emits_signal=self.emits_signals, exit_reason=str(decision.reason),
            sell_fraction=decision.sell_fraction, position_quantity=record.quantity, keep_stop=decision.stop_price,
            highest_close=decision.highest_close,
        )
        log.info("EXIT %s %s: selling %s %s of %s at about %g", record.symbol, decision.reason, quantity, market.base,
                 record.quantity, price)
        self.ledger.submit(
            self._intent(record.symbol, Side.SELL, "exit", plan, reason=str(decision.reason), base_qty=quantity),
            self.broker,
        )
        self.snapshot = None
        return True

    # ---- entries: strategy pass only, through the gates ---------------------------------------------
    def _entries(self) -> None:
        signals = self.market_data.scan(self.symbols())
        if not signals:
            return
        # The operator's control (docs/rules.md §3), a store read: asked only when there is something to enter.
        paused = self.entry_gate(self.account.broker, self.account.account_id) if self.entry_gate else None
        if paused:  # the exits of this pass have already run
            log.debug("no new entries: %s", paused)
            return
        held = [p.symbol for p in self.positions()] + sorted(self._busy_symbols())
        plan = plan_entries(
            signals, held, max_positions=self.settings.general.max_concurrent_positions,
            entry_blocking=self.settings.general.entry_blocking, strategy=self.settings.strategy,
            fee_rates={sig.symbol: self.broker.market(sig.symbol).taker_fee for sig in signals},
        )
        candle_of = {sig.symbol: sig.time for sig in signals}
        for symbol, reason in plan.skipped:
            # Said once per signal candle: the passes between two candles see the same signal again.
            said = (candle_of.get(symbol, 0.0), reason)
            if self._skips_said.get(symbol) != said:
                self._skips_said[symbol] = said
                log.info("no entry on %s: %s", symbol, reason)
        for signal in plan.entries:
            if not self.broker.market_is_open(signal.symbol):
                log.info("no entry on %s: its market is closed now", signal.symbol)
                continue
            if not self._buy(signal):
                return  # stopping

    def _buy(self, signal: EntrySignal) -> bool:
        market = self.broker.market(signal.symbol)
        snapshot = self._refresh()
        strategy = self.settings.strategy
        size = size_entry(
            snapshot.equity, float(snapshot.cash_available), signal.price, signal.stop_price, strategy,
            min_notional=float(market.min_notional), min_base_qty=float(market.min_base_qty),
            base_decimals=market.base_decimals, fee_rate=market.taker_fee,
        )
        if size.skipped:
            log.info("entry on %s %s", signal.symbol, size.reason)
            return True
        if not self.pacer.wait_turn():
            return False
        notional = exact(size.notional).quantize(CENT, rounding=ROUND_DOWN)  # never above the sized amount
        risk = signal.price - signal.stop_price
        plan = OrderPlan(
            equity_before=snapshot.equity, emits_signal=self.emits_signals, stop_distance=risk,
            planned_stop=signal.stop_price,
            targets=(signal.price + strategy.first_target_r * risk, signal.price + strategy.second_target_r * risk),
        )
        log.info("ENTRY %s: buying %s %s (about %g %s at %g), stop %g, confidence %.2f", signal.symbol, notional,
                 market.quote, size.base_qty, market.base, signal.price, signal.stop_price, signal.confidence)
        self.ledger.submit(
            self._intent(signal.symbol, Side.BUY, "entry", plan, reason=f"confidence {signal.confidence:.2f}",
                         quote_notional=notional),
            self.broker,
        )
        self.snapshot = None
        return True
