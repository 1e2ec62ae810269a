"""What runs beside the trader in `python bot.py run` (issue 12): the heartbeat, the equity samples, the
notifications and the dashboard's web server.

One thread of its own ("cockpit") does the periodic work on its own store connections, in real time:
it writes the bot's heartbeat, records each account's equity every EQUITY_SAMPLE_SECONDS of bot time,
watches the account threads (alive, not stuck), and hands news from the store to the notifier. A
trading thread never calls any of it; it all stops after the trader has stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.brokers import telemetry
from bot.clock import utc_text
from bot.config.settings import Settings
from bot.logsetup import register_secrets
from bot.notify.news import START, STOP, THREAD, NewsReader, Notice
from bot.notify.sender import AppriseDelivery, Delivery, Notifier, register_url_secrets
from bot.state.operator import BotRun, EquitySample, OperatorStore
from bot.state.readmodel import ReadModel
from bot.web.app import WebOptions, create_app
from bot.web.auth import Gate
from bot.web.board import Board
from bot.web.live import TraderLive
from bot.web.metrics import Metrics
from bot.web.server import WebServer

log = logging.getLogger(__name__)

_LAST_WORDS_SECONDS = 0.2  # the stop notice gets at least this, even when the stop's time is used up


class Cockpit:
    """The operator's side of one running bot; start() before the trader starts, stop() after it stopped."""

    def __init__(
        self, settings: Settings, store_path: Path, live: TraderLive, *, out: TextIO,
        operator: OperatorStore | None = None, delivery: Delivery | None = None,
        wall: Callable[[], float] = time.time, background: bool = True,
    ) -> None:
        """Checks everything that could refuse to start (bind address without a token, bad NOTIFY_URLS)
        before any trading: ValueError with one line for the operator."""
        self.settings = settings
        self.store_path = store_path
        self.live = live
        self.out = out
        self.wall = wall
        self.background = background
        web = settings.web
        token = web.web_token.get_secret_value() if web.web_token else None
        if token:
            register_secrets([token])
        self.gate = Gate(web.web_host, token) if web.web_enabled else None
        urls = settings.notify.notify_urls.get_secret_value() if settings.notify.notify_urls else ""
        if urls:
            register_url_secrets(urls)
        self.delivery = delivery if delivery is not None else (AppriseDelivery(urls) if urls else None)
        self.operator = operator
        self._owns_operator = operator is None
        self.read: ReadModel | None = None
        self.board: Board | None = None
        self.metrics: Metrics | None = None
        self.server: WebServer | None = None
        self.notifier: Notifier | None = None
        self.news: NewsReader | None = None
        self.run: BotRun | None = None
        self.url: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_beat = 0.0
        self._last_sample: dict[tuple[str, str], float] = {}
        self._thread_problems: dict[str, str] = {}

    # ---- life cycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.operator is None:
            self.operator = OperatorStore(self.store_path)
        self.read = ReadModel(self.store_path)
        previous = self.operator.last_run()
        now = self.wall()
        self.run = self.operator.start_run(os.getpid(), socket.gethostname(), self.live.mode, now)
        self._last_beat = now
        self.board = Board(self.read, self.operator, self.settings, self.live, wall=self.wall)
        self._last_sample = self.operator.last_equity_times()
        if self.delivery is not None:
            self.news = NewsReader(self.read, self.operator, daily_hour=self.settings.notify.notify_daily_summary_hour)
            self.notifier = Notifier(self.delivery, batch_seconds=self.settings.notify.notify_batch_seconds,
                                     queue_size=self.settings.notify.notify_queue_size,
                                     on_delivered=self._delivered).start()
            if previous is not None and previous.stopped_at is None:
                self.notifier.submit(Notice(STOP, f"the previous run (pid {previous.pid} on {previous.host}, since "
                                                  f"{utc_text(previous.started_at)}) ended without a clean stop; last "
                                                  f"heartbeat at {utc_text(previous.last_beat)}", urgent=True))
        if self.gate is not None:
            self._start_web(self.board, self.gate)
        if self.background:
            self._thread = threading.Thread(target=self._loop, name="cockpit", daemon=True)
            self._thread.start()

    def _start_web(self, board: Board, gate: Gate) -> None:
        """The dashboard, with /metrics: the error counter and the exchange call listener exist only while it is
        served (nothing else reads them)."""
        web = self.settings.web
        options = WebOptions(controls_in_process=True, refresh_seconds=web.web_refresh_seconds,
                             equity_sample_seconds=web.equity_sample_seconds)
        metrics = Metrics(board)
        app = create_app(board, gate, metrics, options)
        try:
            self.server = WebServer(app, web.web_host, web.web_port)
        except OSError as error:
            log.error("dashboard not started: cannot listen on %s:%s (%s); set WEB_PORT to a free port or "
                      "WEB_ENABLED=false. Trading goes on.", web.web_host, web.web_port, error.strerror or error)
            print(f"Dashboard NOT started: {web.web_host}:{web.web_port} is not available ({error.strerror or error})",
                  file=self.out, flush=True)
            return
        self.metrics = metrics
        logging.getLogger().addHandler(metrics.error_handler)
        telemetry.add_listener(metrics.exchange_call)
        self.url = self.server.start()
        controls = "controls on (token set)" if gate.token else "read-only (set WEB_TOKEN for the controls)"
        print(f"Dashboard: {self.url}  ({controls}; API docs {self.url}/docs, metrics {self.url}/metrics)",
              file=self.out, flush=True)

    def trader_started(self) -> None:
        """Start-up is over: threads run, /healthz judges them from now on; say so to the operator."""
        self.live.mark_started()
        if self.notifier is not None and self.read is not None:
            accounts = self.read.accounts(self.live.now())
            lines = "; ".join(f"{a.label} {a.state} {a.equity:,.2f} USD" for a in accounts) or "no account"
            self.notifier.submit(Notice(START, f"NIJA started in {self.live.mode} mode on {socket.gethostname()}: "
                                               f"{lines}"))

    def begin_stop(self) -> None:
        """The bot is stopping: end the periodic round and the web server now, alongside the trader's own stop,
        so the cockpit adds next to nothing to the time the stop takes."""
        self._stop.set()
        if self.server is not None:
            self.server.begin_stop()

    def stop(self, reason: str = "stopped cleanly", *, deadline: float | None = None) -> None:
        """After the trader stopped: last news and equity, the stop notice, then the server and the stores.

        ``deadline`` (time.monotonic()): when the whole stop must be over; the last notifications get what is
        left of it (at most NOTIFY_FLUSH_SECONDS); what they cannot send then is told at the next start."""
        self.begin_stop()
        if self._thread is not None:
            self._thread.join(5.0)
        try:
            self.tick(final=True)
        except Exception:  # the stop must complete whatever the store says
            log.exception("cockpit: last round failed")
        if self.notifier is not None:
            summary = ""
            if self.read is not None:
                summary = "; ".join(f"{a.label} {a.equity:,.2f} USD, realised {a.realised_pnl:+,.2f}"
                                    for a in self.read.accounts(self.live.now()))
            self.notifier.submit(Notice(STOP, f"NIJA stopped ({reason}) on {socket.gethostname()}: {summary}"))
            flush = self.settings.notify.notify_flush_seconds
            if deadline is not None:
                flush = min(flush, max(deadline - time.monotonic(), _LAST_WORDS_SECONDS))
            self.notifier.close(flush)
        if self.server is not None:
            self.server.stop()
        if self.metrics is not None:
            logging.getLogger().removeHandler(self.metrics.error_handler)
            telemetry.remove_listener(self.metrics.exchange_call)
        if self.operator is not None and self.run is not None:
            self.operator.stop_run(self.run.run_id, self.wall(), reason)
        if self.read is not None:
            self.read.close()
        if self.operator is not None and self._owns_operator:
            self.operator.close()

    # ---- the periodic work ------------------------------------------------------------------------------
    def _loop(self) -> None:
        tick = min(self.settings.web.store_heartbeat_seconds, self.settings.notify.notify_poll_seconds)
        while not self._stop.wait(tick):
            try:
                self.tick()
            except Exception:  # the cockpit must outlive any one failed round
                log.exception("cockpit round failed")

    def tick(self, *, final: bool = False) -> None:
        """One round: heartbeat when due, equity samples, thread watch, news to the notifier."""
        assert self.operator is not None and self.read is not None and self.run is not None
        now = self.wall()
        if not final and now - self._last_beat >= self.settings.web.store_heartbeat_seconds:
            self.operator.beat(self.run.run_id, now)
            self._last_beat = now
        self._sample_equity(final)
        if not final:
            self._watch_threads()
        if self.news is not None and self.notifier is not None:
            for notice in self.news.poll(self.live.now(), now):
                self.notifier.submit(notice)

    def _sample_equity(self, final: bool) -> None:
        assert self.operator is not None and self.read is not None
        every = self.settings.web.equity_sample_seconds
        samples = []
        for broker, account_id, equity, cash, at in self.read.balances():
            last = self._last_sample.get((broker, account_id))
            if last is None or at - last >= every or (final and at > last):
                samples.append(EquitySample(broker, account_id, at, equity, cash))
                self._last_sample[(broker, account_id)] = at
        self.operator.add_equity_samples(samples)

    def _watch_threads(self) -> None:
        """Log (and tell) a thread that ends or sticks in one pass, and when it is well again."""
        if self.board is None or not self.live.started():
            return
        for verdict in self.board.stuck.verdicts(self.live.threads()):
            before = self._thread_problems.get(verdict.label)
            if not verdict.ok and before is None:
                self._thread_problems[verdict.label] = verdict.problem
                log.error("health: %s", verdict.problem)
                if self.notifier is not None:
                    self.notifier.submit(Notice(THREAD, verdict.problem, urgent=True))
            elif verdict.ok and before is not None:
                del self._thread_problems[verdict.label]
                log.warning("health: %s is well again", verdict.label)
                if self.notifier is not None:
                    self.notifier.submit(Notice(THREAD, f"{verdict.label} is well again (was: {before})"))

    def _delivered(self, notices: list[Notice]) -> None:
        """After a delivery attempt: the cursors of those notices move on (never told twice)."""
        assert self.operator is not None
        latest: dict[str, object] = {}
        for notice in notices:
            if notice.cursor is not None:
                latest[notice.cursor[0]] = notice.cursor[1]
        for name, value in latest.items():
            self.operator.save_cursor(name, value)  # type: ignore[arg-type]
