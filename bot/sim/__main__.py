"""`python -m bot.sim`: run the simulator standalone and print each face's URL and demo credentials' key.

Secrets are written to a file only when asked (--credentials-file, or beside --state), never printed.

With ``--state FILE`` the exchange lives in FILE (created when missing, reloaded when present): a kill
of the simulator loses nothing, and a restart serves the same accounts, keys, balances and orders.
Ports may change on a restart: each start writes FILE.endpoints.json (atomically, once every face is
up, so a harness can wait for it) with the URLs, the client settings (e.g. COINBASE_CA_BUNDLE), the
credentials file and the process id.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from bot.config.settings import load_settings
from bot.sim.catalog import STOCKS
from bot.sim.clock import SimClock
from bot.sim.exchange import SimExchange
from bot.sim.faces import FACES
from bot.sim.fault_spec import FaultSpecError, apply_fault_spec, parse_fault_spec
from bot.sim.persistence import MarketParams, SimStateError, credentials_path, endpoints_path
from bot.sim.prices import make_price_source
from bot.sim.reload import open_exchange
from bot.sim.server import SimulatorServer


def _write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _parser(settings_paper: object) -> argparse.ArgumentParser:
    paper = settings_paper
    parser = argparse.ArgumentParser(prog="python -m bot.sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", default="kraken", help=f"comma list of {','.join(sorted(FACES))}")
    parser.add_argument("--data-dir", type=Path, default=paper.sim_data_dir, help="candle files to replay")  # type: ignore[attr-defined]
    parser.add_argument("--seed", type=int, default=paper.sim_seed)  # type: ignore[attr-defined]
    parser.add_argument("--markets", type=int, default=paper.sim_markets)  # type: ignore[attr-defined]
    parser.add_argument("--bar-seconds", type=int, default=paper.paper_candle_minutes * 60,  # type: ignore[attr-defined]
                        help="the candle length (seconds) the synthetic market's set-ups are drawn for "
                        "(default PAPER_CANDLE_MINUTES x 60); a bot reading 1-minute candles wants 60")
    parser.add_argument("--speed", type=float, default=paper.sim_speed,  # type: ignore[attr-defined]
                        help="simulated seconds per real second (1: the wall clock, as a live-mode bot reads it)")
    parser.add_argument("--start", type=float, default=None,
                        help="simulated start (unix seconds; default now, or where a reloaded --state left off)")
    parser.add_argument("--accounts", default="demo:10000", help="comma list of id:usd to provision")
    parser.add_argument("--credentials-file", type=Path, default=None,
                        help="write the credentials here (default with --state: FILE.credentials.json)")
    parser.add_argument("--state", type=Path, default=None,
                        help="keep the exchange in this file: created when missing, reloaded when present")
    parser.add_argument("--faults", default="", help="fault plan, e.g. 'drop=0.1,5xx=0.05' or "
                        "'kraken/AddOrder:drop=0.3;alpaca:latency=0.2' (see bot/sim/fault_spec.py)")
    parser.add_argument("--fault-seed", type=int, default=None, help="seed of the fault draws (default --seed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    args = _parser(settings.paper).parse_args(argv)
    faces = [f.strip() for f in args.faces.split(",") if f.strip()]
    unknown = [f for f in faces if f not in FACES]
    if unknown:
        print(f"--faces {args.faces!r}: expected a comma list of {', '.join(sorted(FACES))}", file=sys.stderr)
        return 2
    if args.bar_seconds < 5:
        print(f"--bar-seconds {args.bar_seconds}: expected a candle length of 5 seconds or more", file=sys.stderr)
        return 2
    try:
        fault_rules = parse_fault_spec(args.faults, faces)
    except FaultSpecError as error:
        print(error, file=sys.stderr)
        return 2
    stocks = tuple(s.symbol for s in STOCKS) if "alpaca" in faces else ()
    opened = None
    if args.state is not None:
        market = MarketParams(seed=args.seed, markets=args.markets, start_time=args.start or time.time(),
                              data_dir=str(args.data_dir) if args.data_dir else None, stocks=stocks,
                              bar_seconds=args.bar_seconds)
        try:
            opened = open_exchange(args.state, market, speed=args.speed, start=args.start,
                                   settings=settings.simulator)
        except SimStateError as error:
            print(f"--state: {error}", file=sys.stderr)
            return 2
        exchange = opened.exchange
        seed = opened.market.seed
        what = "reloaded" if opened.resumed else "created"
        print(f"state {what}: {args.state} ({len(exchange.accounts())} accounts)")
    else:
        start = args.start if args.start is not None else time.time()
        prices = make_price_source(args.data_dir, args.seed, args.markets, start, bar_seconds=args.bar_seconds)
        exchange = SimExchange(prices, SimClock(start, args.speed), seed=args.seed, settings=settings.simulator)
        seed = args.seed
    apply_fault_spec(exchange.faults, fault_rules, args.fault_seed if args.fault_seed is not None else seed)
    port = settings.simulator.sim_public_port
    ports = {face: port + i for i, face in enumerate(faces)} if port else None
    workdir = args.state.with_name(args.state.name + ".files") if args.state is not None else None
    credentials_file = args.credentials_file or (credentials_path(args.state) if args.state is not None else None)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with SimulatorServer(exchange, faces=faces, ports=ports, workdir=workdir) as server:
            written: dict[str, dict[str, str]] = {}
            for item in args.accounts.split(","):
                account_id, _, usd = item.partition(":")
                account_id = account_id.strip()
                for face in faces:
                    credentials = server.provision(face, account_id, {"USD": float(usd or 0)}, reuse=True)
                    written[f"{face}:{account_id}"] = {"api_key": credentials.api_key,
                                                       "api_secret": credentials.api_secret}
                    print(f"{face}: account {account_id} key {credentials.fingerprint}")
            for face in faces:
                print(f"{face}: {server.url(face)}")
            if credentials_file:
                _write_atomically(credentials_file, json.dumps(written, indent=1))
                print(f"credentials written to {credentials_file}")
            if args.state is not None:
                endpoints = {
                    "pid": os.getpid(), "state": str(args.state),
                    "credentials_file": str(credentials_file) if credentials_file else None,
                    "faces": {face: {"url": server.url(face), "port": server.port(face),
                                     "env": server.client_settings(face)} for face in faces},
                }
                _write_atomically(endpoints_path(args.state), json.dumps(endpoints, indent=1), 0o644)
            if fault_rules:
                print(f"faults: {args.faults}")
            print(f"{len(exchange.markets())} markets, speed {args.speed:g}x; Ctrl-C stops", flush=True)
            stop.wait()
    finally:
        if opened is not None:
            opened.state.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
