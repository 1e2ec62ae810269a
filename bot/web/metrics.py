"""/metrics for Prometheus (issue 12): read from the store at each scrape, plus two in-process counters.

Most figures are what the store already records (orders and fills by account and outcome, copies,
copy latency, account state, equity, open positions), collected when Prometheus asks, so nothing in
a trading thread does any metrics work. Errors by kind are counted by a logging handler (every error
the bot logs, with the exception's class as its kind); exchange call latency comes from the brokers'
telemetry hook when the running bot registers it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.web.board import Board

#: copy latency buckets, seconds from the master's fill to the follower's
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
EXCHANGE_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def latency_histogram(
    name: str, doc: str, counted: dict[str, tuple[int, float, list[int]]], label: str
) -> HistogramMetricFamily:
    """A Prometheus histogram family from (count, sum, cumulative count per LATENCY_BUCKETS bound) per label."""
    family = HistogramMetricFamily(name, doc, labels=[label])
    for key, (count, total, cumulative) in sorted(counted.items()):
        buckets = [(repr(bound), float(n)) for bound, n in zip(LATENCY_BUCKETS, cumulative)]
        buckets.append(("+Inf", float(count)))
        family.add_metric([key], buckets, total)
    return family


class StoreCollector(Collector):
    """Gauges and counters read from the store (and the live bot's threads) at each scrape."""

    def __init__(self, board: Board) -> None:
        self.board = board

    def collect(self) -> Iterator[Metric]:
        board = self.board
        read = board.read
        status = board.run_status()
        running = GaugeMetricFamily("nija_bot_running", "1 when the bot writing this store runs", labels=["mode"])
        running.add_metric([board.mode_of(status.run)], 1.0 if status.running else 0.0)
        yield running
        if status.heartbeat_age is not None:
            yield GaugeMetricFamily("nija_heartbeat_age_seconds", "real seconds since the bot's last heartbeat",
                                    value=status.heartbeat_age)
        equity = GaugeMetricFamily("nija_account_equity_usd", "account equity, USD", labels=["broker", "account"])
        cash = GaugeMetricFamily("nija_account_cash_usd", "free cash, USD", labels=["broker", "account"])
        positions = GaugeMetricFamily("nija_open_positions", "open positions", labels=["broker", "account"])
        state = GaugeMetricFamily("nija_account_state", "1 for the account's current state",
                                  labels=["broker", "account", "state"])
        health = GaugeMetricFamily("nija_account_health", "1 for the account thread's health status",
                                   labels=["broker", "account", "status"])
        errors_in_row = GaugeMetricFamily("nija_account_consecutive_errors", "failed passes in a row",
                                          labels=["broker", "account"])
        realised = GaugeMetricFamily("nija_realised_pnl_usd", "realised P&L of closed trades, fees included, USD",
                                     labels=["broker", "account"])
        for account in read.accounts(board.now()):
            labels = [account.broker, account.account_id]
            equity.add_metric(labels, account.equity)
            cash.add_metric(labels, account.cash)
            positions.add_metric(labels, float(account.open_positions))
            state.add_metric([*labels, account.state], 1.0)
            realised.add_metric(labels, account.realised_pnl)
            if account.health is not None:
                health.add_metric([*labels, account.health.status], 1.0)
                errors_in_row.add_metric(labels, float(account.health.consecutive_errors))
        yield from (equity, cash, positions, state, health, errors_in_row, realised)

        orders = GaugeMetricFamily("nija_orders", "orders in the store by account, purpose and status",
                                   labels=["broker", "account", "purpose", "status"])
        for count in read.order_counts():
            orders.add_metric([count.broker, count.account_id, count.purpose or "-", count.status], float(count.count))
        yield orders
        fills = CounterMetricFamily("nija_fills", "fills booked by account and side",
                                    labels=["broker", "account", "side"])
        for fill in read.fill_counts():
            fills.add_metric([fill.broker, fill.account_id, fill.side], float(fill.count))
        yield fills

        copies = GaugeMetricFamily("nija_copies", "follower copies by outcome", labels=["broker", "follower", "status"])
        for row in read.tracking():
            for status, value in (("filled", row.copies_filled), ("skipped", row.copies_skipped),
                                  ("failed", row.copies_failed)):
                copies.add_metric([row.broker, row.follower_id, status], float(value))
        yield copies
        yield latency_histogram("nija_copy_latency_seconds", "master fill to follower fill, bot-clock seconds",
                                read.copy_latency_histogram(LATENCY_BUCKETS), "broker")

        if board.live is not None:
            alive = GaugeMetricFamily("nija_thread_alive", "1 when the account's thread runs",
                                      labels=["broker", "account"])
            for thread in board.live.threads():
                if thread.should_run:
                    alive.add_metric([thread.broker, thread.account_id], 1.0 if thread.alive else 0.0)
            yield alive


class ErrorCounter(logging.Handler):
    """Counts every error record by account (the thread's name) and kind (the exception class, or 'logged')."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(level=logging.ERROR)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        try:
            kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else "logged"
            account = getattr(record, "account", None) or record.threadName or "nija"
            self.counter.labels(account=str(account), kind=kind).inc()
        except Exception:  # a metrics hiccup must never reach the thread that logged
            self.handleError(record)


class Metrics:
    """One registry per server: the store collector, errors by kind, exchange call latency."""

    def __init__(self, board: Board) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(board))
        self.errors = Counter("nija_errors", "errors logged by account and kind", ["account", "kind"],
                              registry=self.registry)
        self.exchange_calls = Histogram(
            "nija_exchange_call_seconds", "exchange HTTP calls by brokerage, endpoint and outcome",
            ["broker", "endpoint", "outcome"], buckets=EXCHANGE_BUCKETS, registry=self.registry,
        )
        self.error_handler = ErrorCounter(self.errors)

    def exchange_call(self, broker: str, endpoint: str, seconds: float, outcome: str) -> None:
        """The brokers' telemetry listener (telemetry.report keeps a failing listener away from the call)."""
        self.exchange_calls.labels(broker=broker, endpoint=endpoint, outcome=outcome).observe(seconds)
