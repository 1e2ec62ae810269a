"""The Alpaca face answers alpaca-py's TradingClient and data clients with JSON their models accept."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.requests import CryptoBarsRequest, CryptoSnapshotRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetClass, OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)

from bot.clock import ManualClock
from bot.config.accounts import Credentials
from bot.config.settings import load_settings
from bot.sim.catalog import STOCKS
from bot.sim.exchange import SimExchange
from bot.sim.faces.alpaca import AlpacaFace
from bot.sim.prices import SyntheticMarket
from bot.sim.server import SimulatorServer
from bot.trading.paper import start_paper

SUNDAY = datetime(2025, 6, 15, 15, 0, tzinfo=UTC).timestamp()  # NYSE closed
MONDAY_10AM_NEW_YORK = datetime(2025, 6, 16, 14, 0, tzinfo=UTC).timestamp()
NEW_YORK = ZoneInfo("America/New_York")


def with_stocks(seed: int, start: float, n_markets: int = 6) -> SyntheticMarket:
    """Crypto pairs plus the catalogue's stocks (AAPL, MSFT, NVDA, SPY), as paper mode gives the Alpaca face."""
    return SyntheticMarket(seed=seed, n_markets=n_markets, start_time=start, stocks=STOCKS)


@dataclass
class AlpacaSim:
    server: SimulatorServer
    exchange: SimExchange
    clock: ManualClock

    @property
    def url(self) -> str:
        return self.server.url("alpaca")

    def trading(self, credentials: Credentials) -> TradingClient:
        client = TradingClient(credentials.api_key, credentials.api_secret, paper=True, url_override=self.url)
        client._retry_wait = 0  # the SDK's own resend pause (3 s by default)
        return client


@pytest.fixture
def sim() -> Iterator[AlpacaSim]:
    clock = ManualClock(SUNDAY)
    exchange = SimExchange(with_stocks(seed=9, start=SUNDAY), clock, seed=9)
    with SimulatorServer(exchange, faces=("alpaca",)) as server:
        face(server).fill_wall_cap_seconds = None  # fills follow the simulated clock only: deterministic
        yield AlpacaSim(server, exchange, clock)


def face(server: SimulatorServer) -> AlpacaFace:
    found = server.face("alpaca")
    assert isinstance(found, AlpacaFace)
    return found


def test_sdk_models_accept_account_assets_clock_and_calendar(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "alice", {"USD": 750.0, "ETH": 0.5}))
    account = client.get_account()
    assert account.cash == "750" and account.status.value == "ACTIVE"
    assets = {a.symbol: a for a in client.get_all_assets(GetAssetsRequest())}
    btc = sim.exchange.markets()["BTC-USD"]
    assert assets["BTC/USD"].asset_class is AssetClass.CRYPTO
    assert assets["BTC/USD"].min_order_size == pytest.approx(btc.min_base_qty)
    assert assets["BTC/USD"].min_trade_increment == pytest.approx(1e-9)  # Alpaca trades crypto to 9 decimals
    assert assets["AAPL"].asset_class is AssetClass.US_EQUITY
    positions = {p.symbol: p for p in client.get_all_positions()}
    assert float(positions["ETHUSD"].qty) == pytest.approx(0.5)
    clock = client.get_clock()
    assert clock.is_open is False
    assert clock.next_open == datetime(2025, 6, 16, 13, 30, tzinfo=UTC)
    days = client.get_calendar(GetCalendarRequest(start=datetime(2025, 6, 13).date(), end=datetime(2025, 6, 17).date()))
    assert [d.date.isoformat() for d in days] == ["2025-06-13", "2025-06-16", "2025-06-17"]


def test_orders_submit_get_list_and_cancel(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "bob", {"USD": 2_000.0}))
    order = client.submit_order(MarketOrderRequest(symbol="BTC/USD", notional=150, side=OrderSide.BUY,
                                                   time_in_force=TimeInForce.GTC, client_order_id="bob-1"))
    assert order.status is OrderStatus.PENDING_NEW and order.filled_qty == "0" and order.filled_avg_price is None
    assert client.get_order_by_client_id("bob-1").status is OrderStatus.PENDING_NEW  # until the venue executes it
    sim.clock.advance(face(sim.server).fill_delay_seconds)
    filled = client.get_order_by_id(order.id)
    assert filled.client_order_id == "bob-1" and filled.status is OrderStatus.FILLED and float(filled.filled_qty) > 0
    assert client.get_order_by_client_id("bob-1").id == order.id
    price = sim.exchange.price("ETH-USD")
    resting = client.submit_order(LimitOrderRequest(symbol="ETH/USD", qty=0.1, side=OrderSide.BUY,
                                                    limit_price=round(price * 0.5, 2), time_in_force=TimeInForce.GTC,
                                                    client_order_id="bob-2"))
    assert resting.status is OrderStatus.NEW
    assert [o.id for o in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))] == [resting.id]
    client.cancel_order_by_id(resting.id)
    assert client.get_order_by_id(resting.id).status is OrderStatus.CANCELED
    with pytest.raises(APIError) as missing:
        client.get_order_by_client_id("never-sent")
    assert missing.value.status_code == 404


def test_bad_keys_get_alpaca_error_bodies(sim: AlpacaSim) -> None:
    credentials = sim.server.provision("alpaca", "carol", {"USD": 10.0})
    with pytest.raises(APIError) as unknown:
        sim.trading(Credentials("PKUNKNOWN", credentials.api_secret, source="TEST")).get_account()
    assert (unknown.value.status_code, unknown.value.code) == (401, 40110000)
    with pytest.raises(APIError) as forbidden:
        sim.trading(Credentials(credentials.api_key, "wrong-secret", source="TEST")).get_account()
    assert forbidden.value.status_code == 403 and forbidden.value.message == "forbidden."


def test_duplicate_client_id_and_insufficient_funds(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "dave", {"USD": 100.0}))
    request = MarketOrderRequest(symbol="ETH/USD", notional=20, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
                                 client_order_id="dave-1")
    client.submit_order(request)
    with pytest.raises(APIError) as duplicate:
        client.submit_order(request)
    assert duplicate.value.status_code == 422 and "client_order_id must be unique" in duplicate.value.message
    with pytest.raises(APIError) as poor:
        client.submit_order(MarketOrderRequest(symbol="ETH/USD", notional=5_000, side=OrderSide.BUY,
                                               time_in_force=TimeInForce.GTC, client_order_id="dave-2"))
    assert poor.value.status_code == 403 and "insufficient balance" in poor.value.message
    assert len(sim.exchange.orders("dave")) == 1


def test_crypto_and_stock_bars_and_snapshots(sim: AlpacaSim) -> None:
    credentials = sim.server.provision("alpaca", "erin", {"USD": 10.0})
    now = datetime.fromtimestamp(sim.clock.now(), UTC)
    crypto = CryptoHistoricalDataClient(credentials.api_key, credentials.api_secret, url_override=sim.url)
    five_minutes = TimeFrame(5, TimeFrameUnit.Minute)
    bars = crypto.get_crypto_bars(CryptoBarsRequest(symbol_or_symbols="BTC/USD", timeframe=five_minutes,
                                                    start=now - timedelta(minutes=60), end=now))
    rows = bars.data["BTC/USD"]
    assert len(rows) == 13 and rows == sorted(rows, key=lambda bar: bar.timestamp)
    expected = sim.exchange.candles("BTC-USD", 5, 13)
    assert [bar.close for bar in rows] == pytest.approx([row[4] for row in expected])
    snapshot = crypto.get_crypto_snapshot(CryptoSnapshotRequest(symbol_or_symbols=["BTC/USD"]))["BTC/USD"]
    assert snapshot.latest_quote.bid_price < snapshot.latest_quote.ask_price


def test_stock_bars_exist_only_for_time_the_market_traded(sim: AlpacaSim) -> None:
    """Nights and weekends are gaps in equity data; a bar overlapping the 09:30 open (the 09:00 bar) exists."""
    credentials = sim.server.provision("alpaca", "erin", {"USD": 10.0})
    stocks = StockHistoricalDataClient(credentials.api_key, credentials.api_secret, url_override=sim.url)
    now = datetime.fromtimestamp(sim.clock.now(), UTC)  # Sunday: the last session was Friday's
    weekend = stocks.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Hour,
                                                     start=now - timedelta(hours=20), end=now))
    assert weekend.data.get("AAPL", []) == []
    friday = stocks.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Hour,
                                                    start=datetime(2025, 6, 12, tzinfo=NEW_YORK), end=now))
    rows = friday.data["AAPL"]
    hours = [bar.timestamp.astimezone(NEW_YORK) for bar in rows]
    assert [(h.date().isoformat(), h.hour) for h in hours] == [("2025-06-12", h) for h in range(9, 16)] + [
        ("2025-06-13", h) for h in range(9, 16)
    ]
    core = {int(row[0]): row[4] for row in sim.exchange.candles("AAPL-USD", 60, 80)}
    assert [bar.close for bar in rows] == pytest.approx([core[int(bar.timestamp.timestamp())] for bar in rows])
    assert sim.exchange.markets()["AAPL-USD"].asset_class == "stock"


def test_a_stock_order_while_closed_is_accepted_and_fills_at_the_open(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "fay", {"USD": 1_000.0}))
    request = MarketOrderRequest(symbol="AAPL", notional=50, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                                 client_order_id="fay-1")
    order = client.submit_order(request)
    assert order.status is OrderStatus.ACCEPTED and client.get_clock().is_open is False
    sim.clock.advance(6 * 3600)  # still Sunday: the order waits, its cash on hold
    assert client.get_order_by_client_id("fay-1").status is OrderStatus.ACCEPTED
    assert float(client.get_account().non_marginable_buying_power) == pytest.approx(950.0)
    sim.clock.set(MONDAY_10AM_NEW_YORK)
    filled = client.get_order_by_client_id("fay-1")
    opening = datetime(2025, 6, 16, 9, 30, tzinfo=NEW_YORK)
    assert filled.status is OrderStatus.FILLED and filled.filled_at == opening
    assert float(filled.filled_avg_price) == pytest.approx(sim.exchange.prices.price("AAPL-USD", opening.timestamp()),
                                                           rel=0.002)  # the opening price, plus the spread
    assert float(filled.filled_qty) * float(filled.filled_avg_price) == pytest.approx(50.0, abs=0.01)  # no commission


def test_fractional_stock_orders_are_day_orders_and_amounts_are_checked(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "hal", {"USD": 1_000.0, "ETH": 1.0}))
    cases = [
        ({"symbol": "AAPL", "notional": "50", "time_in_force": "gtc"}, "fractional orders must be DAY orders"),
        ({"symbol": "ETH/USD", "qty": "0.0000000001", "time_in_force": "gtc"}, "qty must be limited to 9 decimal"),
        ({"symbol": "ETH/USD", "notional": "10.001", "time_in_force": "gtc"}, "notional increment"),
        ({"symbol": "ETH/USD", "notional": "10", "time_in_force": "day"}, "invalid crypto time_in_force"),
    ]
    for fields, refusal in cases:
        with pytest.raises(APIError) as refused:
            client.post("/orders", {"side": "sell" if "qty" in fields else "buy", "type": "market", **fields})
        assert refused.value.status_code == 422 and refusal in refused.value.message
    assert sim.exchange.orders("hal") == []
    exact = client.post("/orders", {"symbol": "ETH/USD", "qty": "0.123456789", "side": "sell", "type": "market",
                                    "time_in_force": "gtc", "client_order_id": "hal-1"})
    assert exact["qty"] == "0.123456789"  # a JSON string, read exactly


def test_crypto_fees_come_out_of_what_the_fill_credits(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "ida", {"USD": 1_000.0}))
    rate = Decimal(sim.server.client_settings("alpaca")["ALPACA_CRYPTO_TAKER_FEE"])
    client.submit_order(MarketOrderRequest(symbol="ETH/USD", notional=500, side=OrderSide.BUY,
                                           time_in_force=TimeInForce.GTC, client_order_id="ida-1"))
    sim.clock.advance(face(sim.server).fill_delay_seconds)
    bought = client.get_order_by_client_id("ida-1")
    gross = Decimal(bought.filled_qty)
    fee = (gross * rate).quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP)
    position = client.get_open_position("ETHUSD")
    assert Decimal(position.qty) == gross - fee  # the fee in ETH: the account holds less than the fill
    spent = Decimal(1000) - Decimal(client.get_account().cash)
    assert spent == pytest.approx(gross * Decimal(bought.filled_avg_price), abs=Decimal("1e-8"))  # no fee in USD
    assert Decimal("499.99") < spent <= Decimal(500)  # the notional is all it cost
    client.submit_order(MarketOrderRequest(symbol="ETH/USD", qty=float(position.qty), side=OrderSide.SELL,
                                           time_in_force=TimeInForce.GTC, client_order_id="ida-2"))
    sim.clock.advance(face(sim.server).fill_delay_seconds)
    sold = client.get_order_by_client_id("ida-2")
    value = Decimal(sold.filled_qty) * Decimal(sold.filled_avg_price)
    sale_fee = (value * rate).quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP)
    after_sale = Decimal(1000) - spent + value - sale_fee
    assert Decimal(client.get_account().cash) == pytest.approx(after_sale, abs=Decimal("1e-8"))
    activities = client.get("/account/activities/CFEE")
    assert [(a["activity_type"], a["symbol"], Decimal(a["qty"]), Decimal(a["net_amount"])) for a in activities] == [
        ("CFEE", "ETHUSD", -fee, Decimal(0)), ("CFEE", "ETHUSD", Decimal(0), -sale_fee)]


def test_large_orders_fill_in_two_parts(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "jan", {"USD": 100_000.0}))
    delay = face(sim.server).fill_delay_seconds
    client.submit_order(MarketOrderRequest(symbol="BTC/USD", notional=40_000, side=OrderSide.BUY,
                                           time_in_force=TimeInForce.GTC, client_order_id="jan-1"))
    sim.clock.advance(delay)
    part = client.get_order_by_client_id("jan-1")
    assert part.status is OrderStatus.PARTIALLY_FILLED and float(part.filled_qty) > 0
    account = client.get_account()  # half spent; the other half still on hold for the second part
    assert (float(account.cash), float(account.non_marginable_buying_power)) == pytest.approx((80_000.0, 60_000.0))
    sim.clock.advance(delay)
    done = client.get_order_by_client_id("jan-1")
    assert done.status is OrderStatus.FILLED and float(done.filled_qty) > float(part.filled_qty)
    assert float(client.get_account().cash) == pytest.approx(60_000.0, abs=0.01)


def test_a_paused_clock_still_fills_after_the_real_time_cap(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "kim", {"USD": 1_000.0}))
    face(sim.server).fill_wall_cap_seconds = 0.05
    client.submit_order(MarketOrderRequest(symbol="BTC/USD", notional=50, side=OrderSide.BUY,
                                           time_in_force=TimeInForce.GTC, client_order_id="kim-1"))
    deadline = time.monotonic() + 10.0  # a real-time rule: poll the condition with a deadline
    status = client.get_order_by_client_id("kim-1").status
    while status is not OrderStatus.FILLED and time.monotonic() < deadline:
        status = client.get_order_by_client_id("kim-1").status
    assert status is OrderStatus.FILLED


def test_sdk_resends_after_504_and_meets_the_duplicate_guard(sim: AlpacaSim) -> None:
    client = sim.trading(sim.server.provision("alpaca", "gus", {"USD": 1_000.0}))
    faults = sim.exchange.faults
    faults.set(face="alpaca", endpoint="submit_order", forced_error="504 after execute")
    order = {"symbol": "BTC/USD", "notional": 50, "side": OrderSide.BUY, "time_in_force": TimeInForce.GTC}
    with pytest.raises(APIError) as gave_up:
        client.submit_order(MarketOrderRequest(client_order_id="gus-1", **order))
    assert gave_up.value.status_code == 504
    assert faults.counts["error"] == 4  # the first POST and alpaca-py's own three resends
    assert len(sim.exchange.orders_by_client_id("gus", "gus-1")) == 1

    # The gateway recovers after one 504: the SDK's resend meets the duplicate guard, nothing doubles.
    client._session.hooks["response"].append(lambda response, **_: faults.clear() if response.status_code == 504
                                             else None)
    faults.set(face="alpaca", endpoint="submit_order", forced_error="504 after execute")
    with pytest.raises(APIError) as duplicate:
        client.submit_order(MarketOrderRequest(client_order_id="gus-2", **order))
    assert duplicate.value.status_code == 422 and "client_order_id must be unique" in duplicate.value.message
    assert len(sim.exchange.orders_by_client_id("gus", "gus-2")) == 1
    assert len(sim.exchange.orders("gus")) == 2


@pytest.mark.parametrize(("brokers", "offered"), [(("alpaca",), True), (("coinbase", "alpaca"), True),
                                                  (("kraken", "alpaca"), True), (("kraken",), False)])
def test_paper_mode_offers_the_catalogue_stocks_with_alpaca(tmp_path: Path, brokers: tuple[str, ...],
                                                            offered: bool) -> None:
    """Beside Kraken too: only the Alpaca face lists them (test_catalogue_stocks_are_not_offered_on_kraken)."""
    settings = load_settings({"NIJA_STATE_DIR": str(tmp_path / "state")}, env_file=None)
    session = start_paper(settings, brokers, seed=3, clock=ManualClock(MONDAY_10AM_NEW_YORK))
    try:
        stocks = {s for s, m in session.exchange.markets().items() if m.asset_class == "stock"}
    finally:
        session.close()
    assert stocks == ({spec.symbol for spec in STOCKS} if offered else set())
