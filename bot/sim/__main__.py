"""`python -m bot.sim`: run the simulator standalone and print each face's URL and demo credentials' key.

Secrets are written to a file only when asked (--credentials-file), never printed.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from pathlib import Path

from bot.config.settings import load_settings
from bot.sim.clock import SimClock
from bot.sim.exchange import SimExchange
from bot.sim.faces import FACES
from bot.sim.prices import make_price_source
from bot.sim.server import SimulatorServer


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m bot.sim", description=__doc__)
    parser.add_argument("--faces", default="kraken", help=f"comma list of {','.join(sorted(FACES))}")
    parser.add_argument("--data-dir", type=Path, default=settings.paper.sim_data_dir, help="candle files to replay")
    parser.add_argument("--seed", type=int, default=settings.paper.sim_seed)
    parser.add_argument("--markets", type=int, default=settings.paper.sim_markets)
    parser.add_argument("--speed", type=float, default=settings.paper.sim_speed)
    parser.add_argument("--start", type=float, default=None, help="simulated start (unix seconds; default now)")
    parser.add_argument("--accounts", default="demo:10000", help="comma list of id:usd to provision")
    parser.add_argument("--credentials-file", type=Path, default=None, help="write the generated credentials here")
    args = parser.parse_args(argv)
    start = args.start if args.start is not None else time.time()
    prices = make_price_source(args.data_dir, args.seed, args.markets, start)
    exchange = SimExchange(prices, SimClock(start, args.speed), seed=args.seed, settings=settings.simulator)
    faces = [f.strip() for f in args.faces.split(",") if f.strip()]
    port = settings.simulator.sim_public_port
    ports = {face: port + i for i, face in enumerate(faces)} if port else None
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SimulatorServer(exchange, faces=faces, ports=ports) as server:
        written: dict[str, dict[str, str]] = {}
        for item in args.accounts.split(","):
            account_id, _, usd = item.partition(":")
            for face in faces:
                credentials = server.provision(face, account_id.strip(), {"USD": float(usd or 0)})
                written[f"{face}:{account_id}"] = {"api_key": credentials.api_key, "api_secret": credentials.api_secret}
                print(f"{face}: account {account_id} key {credentials.fingerprint}")
        for face in faces:
            print(f"{face}: {server.url(face)}")
        if args.credentials_file:
            args.credentials_file.write_text(json.dumps(written, indent=1))
            args.credentials_file.chmod(0o600)
            print(f"credentials written to {args.credentials_file}")
        print(f"{len(prices.symbols())} markets, speed {args.speed:g}x; Ctrl-C stops", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
