"""Logging: per-account prefixes, and every configured secret removed from records and tracebacks."""

from __future__ import annotations

import base64
import io
import logging
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.logsetup import REDACTED, account_context, account_logger, register_secrets, setup_logging

KRAKEN_KEY = "kRaKeNaPiKeY0123456789abcdef"
KRAKEN_SECRET = base64.b64encode(b"super secret kraken private key bytes!").decode()
PEM = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
).decode()


@pytest.fixture
def log_output() -> io.StringIO:
    stream = io.StringIO()
    handler = setup_logging("DEBUG", [KRAKEN_KEY, KRAKEN_SECRET, PEM], stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def test_secrets_never_reach_the_output(log_output: io.StringIO) -> None:
    log = account_logger("kraken:master")
    log.info("key=%s secret=%s", KRAKEN_KEY, KRAKEN_SECRET)
    log.warning("pem inline: %s", PEM.replace("\n", "\\n"))
    log.warning("pem block:\n%s", PEM)
    try:
        raise RuntimeError(f"exchange refused {KRAKEN_KEY} with {KRAKEN_SECRET}")
    except RuntimeError:
        log.exception("order failed")
    logging.getLogger("urllib3.connectionpool").warning("header API-Key: %s", KRAKEN_KEY)
    text = log_output.getvalue()
    pem_body = [line for line in PEM.splitlines() if "-----" not in line]
    for secret in [KRAKEN_KEY, KRAKEN_SECRET, PEM, *pem_body]:
        assert secret not in text
    assert text.count(REDACTED) == 7
    assert "RuntimeError: exchange refused *** with ***" in text


def test_secrets_registered_at_run_time_are_redacted(log_output: io.StringIO) -> None:
    demo_secret = "demo-secret-created-later-0001"
    register_secrets([demo_secret])
    logging.getLogger("nija").info("demo credentials %s", demo_secret)
    assert demo_secret not in log_output.getvalue()
    assert REDACTED in log_output.getvalue()


def test_account_prefix_from_logger_and_from_thread_context(log_output: io.StringIO) -> None:
    account_logger("kraken:daivon_frazier").info("hello from the adapter")

    def worker() -> None:
        with account_context("coinbase:master"):
            logging.getLogger("bot.brokers.coinbase").info("inside the worker")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    logging.getLogger("nija").info("no account here")
    lines = log_output.getvalue().splitlines()
    assert "[kraken:daivon_frazier] hello from the adapter" in lines[0]
    assert "[coinbase:master] inside the worker" in lines[1]
    assert "[nija] no account here" in lines[2]


def test_coinbase_sdk_records_pass_through_redaction(
    log_output: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    import bot.brokers.coinbase  # noqa: F401  (importing the adapter adopts the SDK's logger)

    sdk_logger = logging.getLogger("coinbase.RESTClient")
    assert sdk_logger.handlers == []
    sdk_logger.error("HTTP Error: 401 Client Error: Unauthorized %s", KRAKEN_SECRET)
    assert KRAKEN_SECRET not in log_output.getvalue()
    assert "HTTP Error: 401 Client Error: Unauthorized ***" in log_output.getvalue()
    assert KRAKEN_SECRET not in capfd.readouterr().err
