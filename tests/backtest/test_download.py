"""download-data through each brokerage's SDK against the simulator's faces (issue 14): the files hold exactly
the exchange's closed candles, paging works past one answer's limit, and a second run resumes where the file
stops."""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.backtest.data import read_candles
from bot.backtest.download import add_arguments, run
from bot.clock import ManualClock
from bot.config.settings import load_settings
from bot.sim.exchange import SimExchange
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer

START = 1_750_000_000.0
HOUR = 3600


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[SimulatorServer, SimExchange]]:
    clock = ManualClock(START + 40 * 86_400)  # 40 days of synthetic history behind "now"
    exchange = SimExchange(SyntheticMarket(seed=7, n_markets=24, start_time=START), clock, seed=7)
    with SimulatorServer(exchange, faces=("kraken", "coinbase", "alpaca")) as server:
        yield server, exchange


def environment(server: SimulatorServer, broker: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"KRAKEN_API_URL": server.url("kraken"), "COINBASE_API_URL": server.url("coinbase"),
           "ALPACA_DATA_URL": server.url("alpaca"), "DOWNLOAD_RETRY_WAIT_SECONDS": "0",
           **server.client_settings("coinbase")}
    if broker in ("coinbase", "alpaca"):  # signed calls here: the master key from the environment
        credentials = server.provision(broker, f"{broker}-downloader-{id(monkeypatch)}", {"USD": 1.0})
        monkeypatch.setenv(f"{broker.upper()}_MASTER_API_KEY", credentials.api_key)
        monkeypatch.setenv(f"{broker.upper()}_MASTER_API_SECRET", credentials.api_secret)
    return env


def download(server: SimulatorServer, broker: str, out: Path, days: float, monkeypatch: pytest.MonkeyPatch,
             pairs: str = "BTC-USD,ETH-USD") -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    end = int(START + 40 * 86_400)
    args = parser.parse_args(["--broker", broker, "--pairs", pairs, "--timeframe", "1h", "--days", str(days),
                              "--end", str(end), "--out", str(out)])
    settings = load_settings(environment(server, broker, monkeypatch), env_file=None)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = run(args, settings)
    return code, stdout.getvalue(), stderr.getvalue()


def expected(exchange: SimExchange, symbol: str, end: int, count: int) -> list[tuple]:
    rows = exchange.candles(symbol, 60, count + 1, end_time=end)  # the last one is still open at `end`
    return [r for r in rows if r[0] + HOUR <= end][-count:]


@pytest.mark.parametrize(("broker", "days"), [("coinbase", 20), ("alpaca", 20), ("kraken", 20)])
def test_download_writes_the_exchanges_closed_candles_and_resumes(
    sim: tuple[SimulatorServer, SimExchange], broker: str, days: float, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, exchange = sim
    end = int(START + 40 * 86_400)
    code, out, err = download(server, broker, tmp_path, days, monkeypatch)
    assert code == 0, err
    count = int(days * 24)  # 480 candles: more than one Coinbase answer (350)
    for symbol in ("BTC-USD", "ETH-USD"):
        frame = read_candles(tmp_path / f"{symbol}_1h.csv.gz")
        want = expected(exchange, symbol, end, count)
        assert len(frame) == count
        assert frame["time"].tolist() == [r[0] for r in want]
        # as the venue prints them: Kraken rounds to the pair's price decimals
        assert frame["close"].tolist() == pytest.approx([r[4] for r in want], rel=1e-5)
        assert frame["high"].tolist() == pytest.approx([r[2] for r in want], rel=1e-5)
        assert f"{symbol}: {count} new candles" in out
    # cut the file short and run again: only the missing candles are fetched
    path = tmp_path / "BTC-USD_1h.csv.gz"
    whole = read_candles(path)
    from bot.backtest.download import write_candles

    write_candles(whole.iloc[:100], path)
    code, out, err = download(server, broker, tmp_path, days, monkeypatch, pairs="BTC-USD")
    assert code == 0, err
    assert f"BTC-USD: {count - 100} new candles, {count} in" in out
    assert read_candles(path).equals(whole)


def test_kraken_says_how_far_back_its_candles_go(
    sim: tuple[SimulatorServer, SimExchange], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = sim
    code, out, _ = download(server, "kraken", tmp_path, 35, monkeypatch, pairs="BTC-USD")  # 840 > 720 candles
    assert code == 0
    assert "Kraken served candles from" in out and "last 720 candles" in out
    assert len(read_candles(tmp_path / "BTC-USD_1h.csv.gz")) == 719  # Kraken's 720 less the open one


def test_bad_input_is_one_clear_line(
    sim: tuple[SimulatorServer, SimExchange], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = sim
    monkeypatch.delenv("COINBASE_MASTER_API_KEY", raising=False)
    monkeypatch.delenv("COINBASE_MASTER_API_SECRET", raising=False)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    settings = load_settings({"COINBASE_API_URL": server.url("coinbase")}, env_file=None)
    for argv, text in [
        (["--broker", "coinbase", "--pairs", "BTC-USD"], "COINBASE_MASTER_API_KEY"),
        (["--broker", "kraken", "--pairs", "BTC-USD", "--days", "0"], "--days 0"),
        (["--broker", "kraken", "--pairs", "BTC-USD", "--timeframe", "hourly"], "--timeframe 'hourly'"),
    ]:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = run(parser.parse_args([*argv, "--out", str(tmp_path)]), settings)
        assert code == 2 and text in stderr.getvalue() and len(stderr.getvalue().strip().splitlines()) == 1
