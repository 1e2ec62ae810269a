"""Sends notices through Apprise from a queue, on one thread of its own (issue 12).

Nothing that trades ever waits here: notices come from the store reader, are queued without blocking
(when the queue is full the oldest is dropped and that is logged), and one worker thread delivers them.
A burst is gathered for NOTIFY_BATCH_SECONDS and sent as one message per kind. A service that is slow
or down delays only this thread; a failure is logged and the next batch is tried; text passes the same
redaction as the logs, and the URLs (which hold the services' tokens) are registered as secrets.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bot.logsetup import redactor, register_secrets
from bot.notify.news import TITLES, Notice

log = logging.getLogger(__name__)

_MAX_LINES = 30  # per message: a summary line says how many more there were
_URL_SPLIT = re.compile(r"[\s,]+")
_SECRET_PART = re.compile(r"[/:@?&=#]+")


class Delivery(Protocol):
    """What the sender needs of Apprise: send one message, say whether it went out."""

    def notify(self, body: str, title: str, notify_type: str) -> bool: ...


class AppriseDelivery:
    """The real services, through Apprise (imported only when notifications are configured)."""

    def __init__(self, urls: str) -> None:
        import apprise

        self._apprise = apprise.Apprise()
        self._types = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING}
        accepted = [url for url in split_urls(urls) if self._apprise.add(url)]
        if not accepted:
            raise ValueError("NOTIFY_URLS: no valid Apprise URL (expected e.g. tgram://TOKEN/CHAT, "
                             "discord://ID/TOKEN, mailto://user:pass@host, json://host/path); the values are not "
                             "shown because they hold tokens")
        self.count = len(accepted)

    def notify(self, body: str, title: str, notify_type: str) -> bool:
        kind = self._types.get(notify_type, self._types["info"])
        return bool(self._apprise.notify(body=body, title=title, notify_type=kind))


def split_urls(urls: str) -> list[str]:
    return [part for part in _URL_SPLIT.split(urls.strip()) if part]


def register_url_secrets(urls: str) -> None:
    """Each URL, and every long piece of it (tokens, passwords, chat ids), is removed from logs and messages."""
    values: list[str] = []
    for url in split_urls(urls):
        values.append(url)
        values.extend(part for part in _SECRET_PART.split(url.split("://", 1)[-1]) if len(part) >= 8)
    register_secrets(values)


_STOP = object()


class Notifier:
    """A bounded queue and the one thread that empties it."""

    def __init__(
        self, delivery: Delivery, *, batch_seconds: float, queue_size: int,
        on_delivered: Callable[[Sequence[Notice]], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delivery = delivery
        self.batch_seconds = batch_seconds
        self.on_delivered = on_delivered
        self._monotonic = monotonic
        self.queue_size = queue_size
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size + 1)  # + the stop marker
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> Notifier:
        self._thread.start()
        return self

    def submit(self, notice: Notice) -> None:
        """Queue a notice at once, never waiting: a full queue loses its oldest notice (logged)."""
        with self._lock:
            while self._queue.qsize() >= self.queue_size:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
                self.dropped += 1
                log.warning("notification queue full (the service is slow or down): oldest notice dropped")
            self._queue.put_nowait(notice)

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, flush_seconds: float) -> bool:
        """Send what is queued within ``flush_seconds``, then stop; True when the thread ended in time."""
        deadline = self._monotonic() + flush_seconds
        self._put_stop()
        self._thread.join(max(deadline - self._monotonic(), 0.0))
        if self._thread.is_alive():
            log.warning("notifications: %d message(s) not sent before the stop (service slow or down)", self.pending())
            return False
        return True

    def _put_stop(self) -> None:
        self._queue.put_nowait(_STOP)  # the queue keeps one place free for it

    # ---- the worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = self._monotonic() + self.batch_seconds
            while True:
                remaining = deadline - self._monotonic()
                try:
                    item = self._queue.get(timeout=max(remaining, 0.0)) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True  # send what was gathered, then end
                    break
                batch.append(item)
            self._deliver(batch)
        self._drain()

    def _drain(self) -> None:
        rest = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                rest.append(item)
        if rest:
            self._deliver(rest)

    def _deliver(self, batch: list[Notice]) -> None:
        groups: dict[str, list[Notice]] = defaultdict(list)
        for notice in batch:
            groups[notice.kind].append(notice)
        for kind, notices in groups.items():
            title, body = compose(kind, notices)
            kind_type = "warning" if any(n.urgent for n in notices) else "info"
            try:
                ok = self.delivery.notify(redactor.redact(body), redactor.redact(title), kind_type)
            except Exception as error:  # a notification service must never take the bot down
                ok = False
                log.warning("notification failed (%s): %s", kind, redactor.redact(f"{type(error).__name__}: {error}"))
            with self._lock:
                if ok:
                    self.sent += 1
                else:
                    self.failed += 1
            if not ok:
                log.warning("notification not delivered: %s (%d notice(s)); the next ones are tried as usual",
                            title, len(notices))
        if self.on_delivered is not None:
            try:
                self.on_delivered(batch)
            except Exception:  # committing a cursor must not stop the sender
                log.exception("could not record which notices were sent")


def compose(kind: str, notices: Sequence[Notice]) -> tuple[str, str]:
    """One message for several notices of one kind."""
    name = TITLES.get(kind, kind)
    title = f"NIJA: {name}" if len(notices) == 1 else f"NIJA: {len(notices)} x {name}"
    lines = [n.text for n in notices[:_MAX_LINES]]
    if len(notices) > _MAX_LINES:
        lines.append(f"... and {len(notices) - _MAX_LINES} more (see the dashboard)")
    return title, "\n".join(lines)
