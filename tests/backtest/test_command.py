"""`bot.py backtest`: arguments, one JSON object, the table, the plot, and one clear line for bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.backtest.command import add_arguments, run
from bot.config.settings import Settings

KEYS = {"account", "trades", "win_rate", "total_return", "max_drawdown", "fees_paid", "exposure", "skipped"}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_json_is_one_object_with_every_account(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--data", str(data_dir / "coinbase"), "--pairs", "BTC-USD,ETH-USD", "--followers", "2", "--json")
    assert run(args, Settings()) == 0
    report = json.loads(capsys.readouterr().out)  # the whole output parses as ONE object
    assert report["pairs"] == ["BTC-USD", "ETH-USD"]
    assert report["exchange"] == "coinbase" and report["fee_rate"] == Settings().exchanges.coinbase_taker_fee
    assert [a["account"] for a in report["accounts"]] == ["master", "follower_1", "follower_2"]
    assert all(set(a) >= KEYS for a in report["accounts"])
    assert report["candles"] == 2 * 17_990


def test_table_and_plot(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "equity.png"
    args = parse("--data", str(data_dir / "coinbase"), "--pairs", "SOL-USD", "--balance", "500", "--followers", "1",
                 "--plot", str(png))
    assert run(args, Settings()) == 0
    out = capsys.readouterr().out
    assert "master" in out and "follower_1" in out and "win rate" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kraken_folder_needs_a_variant_and_uses_kraken_fees(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ambiguous = parse("--data", str(data_dir / "kraken"), "--pairs", "BTC-USD")
    assert run(ambiguous, Settings()) == 2
    err = capsys.readouterr().err.strip()
    assert "BTC-USD_1h-cdd.csv.gz" in err and "BTC-USD_1h-ohlcvt.csv.gz" in err and "--variant" in err
    assert len(err.splitlines()) == 1
    chosen = parse("--data", str(data_dir / "kraken"), "--variant", "cdd", "--json")
    assert run(chosen, Settings()) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exchange"] == "kraken" and report["fee_rate"] == Settings().exchanges.kraken_taker_fee
    assert report["pairs"] == ["BTC-USD", "ETH-USD", "LTC-USD", "XRP-USD"]  # STORJ has no -cdd file


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--data", "/nonexistent/candles"], "--data /nonexistent/candles: not a directory"),
        (["--timeframe", "hourly"], "--timeframe 'hourly'"),
        (["--pairs", "DOGE-USD"], "no 1h file for DOGE-USD"),
        (["--followers", "-1"], "--followers -1"),
        (["--balance", "0"], "--balance 0"),
    ],
)
def test_bad_input_is_one_clear_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    full = argv if argv[0] == "--data" else ["--data", str(data_dir / "coinbase"), *argv]
    assert run(parse(*full), Settings()) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
