"""The copy dispatcher: drives one brokerage's durable copy outbox to a final state, during the run.

The ledger books a master's fill together with its signal and one ``planned`` outbox row per
follower configured for the brokerage (bot/execution/ledger.py). This dispatcher owns those rows
from then on; nothing about a copy lives only in memory, so a restart simply carries on:

- ``planned``: sized from the follower's own balance and booked position, then sent through the
  same ledger path as every order (intent with the row turned ``sent`` in one transaction, send,
  book). Its client order id derives from the signal and the follower, so it can never be sent
  twice under two ids.
- A transient failure (unreachable, rate limit, 5xx, time-out: ``TransientError``) keeps the row
  ``planned`` with its attempt count and the next attempt time (back-off from COPY_RETRY_SECONDS
  doubling up to COPY_RETRY_MAX_SECONDS). ``failed`` only for a permanent reason (the exchange
  refused the order, the key was refused, no credentials, the account is no longer a follower);
  ``skipped`` for under the minimum, nothing to sell, no such market, or an entry not placed
  within COPY_MAX_DELAY_SECONDS of the master's fill (stale). Exits are never stale.
- ``sent``: the order is in flight; it is settled by client order id with back-off (the ledger
  books it and the row with it).
- A stock copy while its market is closed waits in the outbox for the open (entries until stale).

The dispatcher's rounds also look up every other order of the brokerage left in flight (a master's
entry that Alpaca accepts and fills a moment later) when its look-up is due, so its signal is
booked within seconds whatever the master's own pace (nautilus_trader's in-flight check); the
ledger wakes the thread when it first leaves such an order in flight, and the rounds then keep its
next look-up time (a copy's own row drives its look-ups, so a copy in flight wakes nothing).

Each follower's rows run in signal order per symbol: an exit copy waits until that follower's
entry copy of the symbol is final. Different followers run at once on a thread pool; one
follower's failure is recorded against it alone. ``run_due`` is one round, callable from a test;
the trader runs it on a thread, woken by every booked signal and on the earliest due time.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from bot.brokers.base import Broker, OrderRequest, Side
from bot.brokers.errors import AuthenticationError, MarketNotFound, OrderRejected, StopRequested, TransientError
from bot.clock import Clock
from bot.config.settings import Settings
from bot.copy.followers import Follower
from bot.copy.sizing import follower_entry_notional
from bot.copy.summary import CopySummary
from bot.execution.booking import COPY_PURPOSES, retry_delay
from bot.execution.crashpoints import crash_point
from bot.execution.ledger import UNSETTLED, ExecutionLedger, OrderIntent
from bot.execution.locks import account_lock
from bot.execution.positions import ONE, ZERO, exact, sale_quantity
from bot.logsetup import account_context
from bot.state.operator import EntryGate
from bot.state.records import CopyRecord, CopyStatus, OrderPlan, SignalRecord
from bot.state.store import StateStore

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
OPEN = (str(CopyStatus.PLANNED), str(CopyStatus.SENT))


@dataclass(frozen=True)
class Absent:
    """A configured follower with no usable client now, and whether that is for good (no credentials)."""

    reason: str
    permanent: bool


class _Wait(Exception):
    """The copy cannot go ahead now (market closed, transient error): retried at `retry_in`."""

    def __init__(self, reason: str, retry_in: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_in = retry_in


class CopyDispatcher:
    """One brokerage's outbox driver; the ledger sends, settles and books every copy's order."""

    def __init__(
        self,
        broker_name: str,
        store: StateStore,
        ledger: ExecutionLedger,
        settings: Settings,
        clock: Clock,
        followers: Iterable[Follower] = (),
        *,
        observe_only: bool | None = None,
        entry_gate: EntryGate | None = None,
    ) -> None:
        self.broker_name = broker_name
        self.store = store
        self.ledger = ledger
        self.settings = settings
        self.clock = clock
        self.observe_only = settings.general.copy_observe_only if observe_only is None else observe_only
        self.entry_gate = entry_gate  # the operator's entry controls (docs/rules.md §3); exit copies never ask
        self._followers: dict[str, Follower] = {}
        self._absent: dict[str, Absent] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._round = threading.Lock()
        self.set_followers(followers)

    # ---- followers -------------------------------------------------------------------------------
    def set_followers(
        self, followers: Iterable[Follower], absent: dict[str, Absent] | None = None,
        accounts: Mapping[str, Broker] | None = None,
    ) -> None:
        """The followers with a client now, why the other configured ones have none, and every account of the
        brokerage with a client (the master too) whose orders in flight the in-flight loop settles."""
        self._followers = {f.account_id: f for f in followers if f.account.broker == self.broker_name}
        self._absent = dict(absent or {})
        self._accounts = dict(accounts) if accounts is not None else {
            f.account_id: f.broker for f in self._followers.values()}

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

    # ---- one round ---------------------------------------------------------------------------------
    def run_due(self) -> float | None:
        """Drive every due outbox row one step; complete finished signals. The next due time, or None (idle)."""
        with self._round:
            # Orders in flight first: a master's fill booked now brings its signal's copies into this round.
            for future in [self._executor().submit(self._settle_account, account_id)
                           for account_id in self._in_flight(due_only=True)]:
                future.result()
            rows = self.store.copies(broker=self.broker_name, statuses=OPEN)
            # Signals whose last copy another thread finished (a follower's own settle pass) are completed too.
            pending: dict[str, SignalRecord | None] = {
                s.signal_id: s for s in self.store.pending_signals(self.broker_name)}
            signals = {sid: self.store.get_signal(sid) for sid in {r.signal_id for r in rows}}
            queues: dict[str, list[CopyRecord]] = defaultdict(list)
            for row in sorted(rows, key=lambda r: (_signal_time(signals.get(r.signal_id)), r.created_at)):
                queues[row.follower_id].append(row)
            futures = [self._executor().submit(self._follower_round, fid, queue, signals)
                       for fid, queue in queues.items()]
            dues = [due for future in futures for due in [future.result()] if due is not None]
            dues += self._in_flight(due_only=False).values()
            self._complete({**pending, **signals})
            return min(dues) if dues else None

    # ---- the in-flight loop ------------------------------------------------------------------------
    def _in_flight(self, *, due_only: bool) -> dict[str, float]:
        """Accounts with an order in flight that is not a copy (a copy's row drives its own look-ups): due now,
        or each with the time its earliest look-up is due (always in the future)."""
        now = self.clock.now()
        found: dict[str, float] = {}
        for order in self.ledger.unsettled(self.broker_name):
            if order.purpose in COPY_PURPOSES or order.account_id not in self._accounts:
                continue
            due = order.next_check_at if order.next_check_at is not None else now
            if due_only and due > now:
                continue
            due = due if due > now or due_only else now + self.settings.copy_trading.copy_retry_seconds
            found[order.account_id] = min(due, found.get(order.account_id, due))
        return found

    def _settle_account(self, account_id: str) -> None:
        """Look up one account's due orders in flight (a master's entry Alpaca fills a moment later is booked,
        with its signal, within seconds, whatever the master's pace), like nautilus_trader's in-flight check."""
        with account_context(f"{self.broker_name}:{account_id}"):
            try:
                self.ledger.settle_due(self.broker_name, account_id, self._accounts[account_id])
            except StopRequested:  # the bot is stopping: the next start looks the order up
                return
            except Exception:  # the order stays in flight; its account's own pass or the next round tries again
                log.exception("look-up of %s's orders in flight failed", account_id)

    def _follower_round(
        self, follower_id: str, queue: list[CopyRecord], signals: dict[str, SignalRecord | None]
    ) -> float | None:
        """One follower's due rows in signal order; a symbol waits behind its first unfinished row."""
        label = f"{self.broker_name}:{follower_id}"
        blocked: set[str] = set()
        due: float | None = None
        with account_context(label):
            for row in queue:
                if row.symbol in blocked:
                    continue
                try:
                    after = self._step(row, signals.get(row.signal_id))
                except StopRequested:  # the bot is stopping: this row and the rest stay as they are for the next start
                    break
                except Exception as error:  # one follower's surprise stays with it: retried, logged
                    log.exception("%s copy of signal %s failed unexpectedly", label, row.signal_id[:8])
                    after = self._retry(row, f"{type(error).__name__}: {error}")
                if after.status.is_final:
                    log.info("copy -> %s %s %s: %s, %s", label, after.side.upper(), after.symbol, after.status,
                             after.reason)
                    crash_point("copy_finished", _purpose(after))
                    continue
                blocked.add(row.symbol)
                nxt = self._next_due(after)
                due = nxt if due is None else min(due, nxt)
        return due

    def _next_due(self, row: CopyRecord) -> float:
        """When this row can move next: its retry time, or its order's next look-up; always in the future."""
        due = row.next_attempt_at
        if row.status is CopyStatus.SENT:
            order = self.store.get_order(row.client_order_id)
            due = order.next_check_at if order is not None and order.next_check_at is not None else 0.0
        now = self.clock.now()
        return due if due > now else now + self.settings.copy_trading.copy_retry_seconds

    def _step(self, row: CopyRecord, signal: SignalRecord | None) -> CopyRecord:
        now = self.clock.now()
        if signal is None:
            return self._final(row, CopyStatus.FAILED, "its signal is missing from the store")
        follower = self._followers.get(row.follower_id)
        if row.status is CopyStatus.SENT:
            return self._settle(row, follower)
        if row.next_attempt_at > now:
            return row
        absent = self._absent.get(row.follower_id)
        if follower is None:
            if absent is not None and not absent.permanent:
                return self._retry(row, absent.reason)
            return self._final(row, CopyStatus.FAILED, absent.reason if absent else
                               f"{row.follower_id} no longer follows the {self.broker_name} master")
        buying = row.side == Side.BUY
        if buying and now - signal.time > self.settings.copy_trading.copy_max_delay_seconds:
            return self._final(row, CopyStatus.SKIPPED, f"stale: not placed within COPY_MAX_DELAY_SECONDS "
                               f"({self.settings.copy_trading.copy_max_delay_seconds:g} s) of the master's fill"
                               + (f" ({row.reason})" if row.reason else ""))
        if follower.broker.stop_token.is_set():
            return row  # the bot is stopping: nothing is sent; the row stays planned for the next start
        with account_lock(self.broker_name, row.follower_id):
            try:
                return self._place(row, signal, follower)
            except _Wait as wait:
                return self._retry(row, wait.reason, wait.retry_in)
            except TransientError as error:
                return self._retry(row, f"{type(error).__name__}: {error}")
            except AuthenticationError as error:
                return self._final(row, CopyStatus.FAILED, f"AuthenticationError: {error}")
            except MarketNotFound as error:
                return self._final(row, CopyStatus.SKIPPED, str(error))

    def _settle(self, row: CopyRecord, follower: Follower | None) -> CopyRecord:
        order = self.store.get_order(row.client_order_id)
        if order is None:  # a row marked sent always has its intent; a lost one is simply planned again
            return self._retry(row, "its order's intent is missing")
        if order.status in UNSETTLED and follower is not None and (
                order.next_check_at is None or order.next_check_at <= self.clock.now()):
            self.ledger.settle(order, follower.broker)
        return self.store.get_copy(row.signal_id, row.follower_id) or row

    # ---- sizing and sending ------------------------------------------------------------------------
    def _place(self, row: CopyRecord, signal: SignalRecord, follower: Follower) -> CopyRecord:
        """Size the copy from the follower's own balance and position, then send it through the ledger."""
        broker = follower.broker
        market = broker.market(row.symbol)
        if not broker.market_is_open(row.symbol):
            raise _Wait(f"the {row.symbol} market is closed; the copy waits for the open",
                        self.settings.copy_trading.copy_retry_max_seconds)
        if row.side == Side.BUY and self.entry_gate is not None:  # a paused follower's entry costs no exchange call
            paused = self.entry_gate(self.broker_name, row.follower_id)
            if paused:
                return self._final(row, CopyStatus.SKIPPED, paused)
        snapshot = broker.balances()
        price = signal.fill_price
        if row.side == Side.BUY:
            size = follower_entry_notional(
                master_notional=float(signal.quote_notional), master_equity=signal.master_equity,
                follower_equity=snapshot.equity,
                # Keep the taker fee out of the spendable cash so a copy capped at free cash is never refused.
                follower_free_cash=float(snapshot.cash_available) / (1.0 + market.taker_fee),
                risk_multiplier=follower.account.risk_multiplier, max_user_risk=self.settings.general.max_user_risk,
            )
            notional = exact(size.notional).quantize(CENT, rounding=ROUND_DOWN)
            if notional <= 0:
                return self._final(row, CopyStatus.SKIPPED, f"nothing to copy with: {size.reason}")
            try:
                broker.prepare_order(OrderRequest(row.symbol, Side.BUY, row.client_order_id,
                                                  quote_notional=notional), float(price))
            except OrderRejected as rejected:
                return self._final(row, CopyStatus.SKIPPED, f"under the exchange minimum: {rejected} ({size.reason})")
            reason = f"buy {notional} {market.quote}: {size.reason}"
            return self._send(row, signal, follower, reason, quote_notional=notional)
        position = self.store.get_position(self.broker_name, row.follower_id, row.symbol)
        if position is None or position.quantity <= 0:
            return self._final(row, CopyStatus.SKIPPED, f"no copied {row.symbol} position to sell")
        fraction = signal.fraction_sold if signal.fraction_sold is not None else ONE
        held = snapshot.assets.get(market.base)
        quantity, problem = sale_quantity(
            position.quantity, exact(held.available) if held is not None else ZERO, fraction, price=price,
            lot_decimals=market.base_decimals, min_base_qty=exact(market.min_base_qty),
            min_notional=exact(market.min_notional),
        )
        if problem:
            return self._final(row, CopyStatus.SKIPPED, f"nothing to sell: {problem} (own {position.quantity})")
        what = "all" if fraction >= ONE else f"{fraction:.0%}"
        reason = f"sell {quantity} {market.base} ({what} of own {position.quantity})"
        return self._send(row, signal, follower, reason, base_qty=quantity)

    def _send(self, row: CopyRecord, signal: SignalRecord, follower: Follower, reason: str, *,
              base_qty: Decimal | None = None, quote_notional: Decimal | None = None) -> CopyRecord:
        if self.observe_only:
            log.warning("COPY_OBSERVE_ONLY: %s would %s (%s); nothing placed", follower.label, reason, row.symbol)
            return self._final(row, CopyStatus.OBSERVED, reason)
        side = Side(row.side)
        intent = OrderIntent(
            self.broker_name, row.follower_id, row.symbol, side, _purpose(row), row.client_order_id,
            base_qty=base_qty, quote_notional=quote_notional, signal_id=row.signal_id, reason=reason,
            plan=OrderPlan(copy_stop=signal.master_stop_price, master_fill_price=float(signal.fill_price))
            if side is Side.BUY else OrderPlan(),
        )
        try:
            order = self.ledger.submit(intent, follower.broker, copy=row)
        except AuthenticationError:
            order = None  # booked as a refused order: the row is failed with the reason
        if order is not None and order.client_order_id == row.client_order_id and order.status in UNSETTLED:
            return replace(row, status=CopyStatus.SENT)  # in flight: settled by look-ups (no re-read needed)
        return self.store.get_copy(row.signal_id, row.follower_id) or row

    # ---- row outcomes ------------------------------------------------------------------------------
    def _final(self, row: CopyRecord, status: CopyStatus, reason: str) -> CopyRecord:
        if status is CopyStatus.SKIPPED:
            log.info("%s skips %s %s: %s", row.follower_id, row.side.upper(), row.symbol, reason)
        elif status is CopyStatus.FAILED:
            log.warning("%s copy of %s %s failed: %s", row.follower_id, row.side.upper(), row.symbol, reason)
        return self.store.save_copy(replace(row, status=status, reason=reason))

    def _retry(self, row: CopyRecord, reason: str, retry_in: float | None = None) -> CopyRecord:
        attempts = row.attempts + 1
        copy = self.settings.copy_trading
        delay = retry_in if retry_in is not None else retry_delay(copy.copy_retry_seconds,
                                                                  copy.copy_retry_max_seconds, attempts)
        if attempts == 1 or attempts % 10 == 0:
            log.warning("%s copy of %s %s waits (%s); try %d in %.0f s", row.follower_id, row.side.upper(),
                        row.symbol, reason, attempts + 1, delay)
        return self.store.save_copy(replace(row, attempts=attempts, next_attempt_at=self.clock.now() + delay,
                                            reason=f"retrying: {reason}"))

    def _complete(self, signals: dict[str, SignalRecord | None]) -> None:
        for signal in signals.values():
            if signal is None:
                continue
            summary = CopySummary.of(signal, self.store.copies(signal_id=signal.signal_id))
            if summary.complete and self.store.complete_signal(signal.signal_id, summary.to_dict()):
                log.info(summary.line())

    def summary(self, signal_id: str) -> CopySummary:
        signal = self.store.get_signal(signal_id)
        if signal is None:
            raise KeyError(f"no signal {signal_id}")
        return CopySummary.of(signal, self.store.copies(signal_id=signal_id))


def _signal_time(signal: SignalRecord | None) -> float:
    return signal.time if signal is not None else 0.0


def _purpose(row: CopyRecord) -> str:
    return "copy_entry" if row.side == Side.BUY else "copy_exit"
