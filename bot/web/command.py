"""`python bot.py web`: the dashboard, API and /metrics served read-only from a store, with no bot running
(or beside a running bot, e.g. on another port). The controls live only in the running bot's own server.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TextIO

from bot.config.errors import ConfigError
from bot.config.settings import Settings
from bot.trading.commands import lock_held, open_views, status_path
from bot.trading.stop_signals import install_stop_signals, release_stop_signals
from bot.web.app import WebOptions, create_app
from bot.web.auth import Gate, WebSafetyError
from bot.web.board import Board
from bot.web.metrics import Metrics
from bot.web.server import WebServer


def run(args: argparse.Namespace, settings: Settings) -> int:
    """`python bot.py web`: the store named by --store, else the one `status` reads."""
    try:
        store = args.store or status_path(settings, args.paper)
    except ConfigError as error:
        print(f"nija: configuration error: {error}", file=sys.stderr)
        return 2
    return serve(args, settings, store)


def serve(args: argparse.Namespace, settings: Settings, store: Path, *, out: TextIO | None = None,
          stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C / SIGTERM (or ``stop``); 2 with one line when the store or the address is refused."""
    out = out or sys.stdout
    web = settings.web
    host = args.host or web.web_host
    port = web.web_port if args.port is None else args.port
    token = web.web_token.get_secret_value() if web.web_token else None
    try:
        gate = Gate(host, token)
    except WebSafetyError as error:
        print(f"nija: {error}", file=sys.stderr)
        return 2
    opened = open_views(store)
    if isinstance(opened, str):
        print(f"nija: {opened} (or name one with --store)", file=sys.stderr)
        return 2
    read, operator = opened
    board = Board(read, operator, settings, lock=lambda: lock_held(store.parent))  # the store's own state dir
    app = create_app(board, gate, Metrics(board), WebOptions(False, web.web_refresh_seconds, web.equity_sample_seconds))
    try:
        server = WebServer(app, host, port)
    except OSError as error:
        print(f"nija: cannot listen on {host}:{port} ({error.strerror or error}); choose another --port",
              file=sys.stderr)
        read.close()
        operator.close()
        return 2
    stop = stop or threading.Event()
    install_stop_signals().forward_to(stop)  # bot/cli.py took the signals over already (stops_on_signal)
    try:
        url = server.start()
        print(f"NIJA dashboard (read-only) for {store}: {url}  (Ctrl-C to stop)", file=out, flush=True)
        stop.wait()
    finally:
        server.stop()
        release_stop_signals()
        read.close()
        operator.close()
    return 0
