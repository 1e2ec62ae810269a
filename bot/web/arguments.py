"""The `web` command's arguments, apart from the server so `python bot.py --help` imports no web framework."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default WEB_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="TCP port (default WEB_PORT, 8080; 0: any free port)")
    parser.add_argument("--store", type=Path, default=None,
                        help="the state store file to show (default: the paper store, or the live one when "
                             "LIVE_TRADING=true)")
    parser.add_argument("--paper", action="store_true", help="show the paper-mode store")
