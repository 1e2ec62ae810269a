"""What every protocol face is: the server hands every HTTP request to ``Face.handle`` as a
SimRequest and writes back the SimResponse; faults are the face's business (``self.fault(endpoint)``).
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from bot.config.accounts import Credentials
from bot.sim.exchange import FillTiming
from bot.sim.faults import FaultDecision

if TYPE_CHECKING:
    from bot.sim.exchange import SimExchange, SimMarket


@dataclass
class SimRequest:
    method: str  # GET, POST, DELETE, ...
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    host: str = ""  # the Host header, e.g. 127.0.0.1:53211

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def form(self) -> dict[str, str]:
        """The body as a urlencoded form (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class SimResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (a lost acknowledgement)
    hang_seconds: float = 0.0  # hold the answer this long (real seconds) before sending it

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> SimResponse:
        return cls(status=status, body=json.dumps(payload, separators=(",", ":")).encode())


def decimal_text(value: float, decimals: int) -> str:
    """A venue's decimal string: `decimals` places at most, trailing zeros of the fraction dropped, no exponent.

    Whole numbers keep their zeros: 45,268,470 SHIB is "45268470", never "4526847".
    """
    text = f"{value:.{max(decimals, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class Face:
    """One exchange's protocol. Subclasses set `name`, `tls`, and implement handle/register_credentials."""

    name: str = ""
    tls: bool = False
    #: what this venue lists: stocks only where the real exchange trades them (Alpaca)
    asset_classes: frozenset[str] = frozenset({"crypto"})

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.stopping = threading.Event()  # set by the server on stop: hung requests give up at once
        settings = exchange.settings
        # When an accepted market order executes (tests change these): 0 = in the answer, as Kraken and Coinbase
        # usually do; Alpaca answers pending_new first. The cap fills it anyway while a simulated clock stands still.
        self.fill_delay_seconds: float = getattr(settings, f"sim_{self.name}_fill_delay_seconds", 0.0)
        self.fill_wall_cap_seconds: float | None = settings.sim_fill_wall_cap_seconds
        self._issued: dict[str, Credentials] = {}  # account -> latest credentials (install_credentials keeps it)

    def handle(self, request: SimRequest) -> SimResponse:
        raise NotImplementedError

    def market_order_timing(self) -> FillTiming | None:
        """When a market order accepted now executes: None in the answer itself, else after the venue's delay."""
        if self.fill_delay_seconds <= 0:
            return None
        return FillTiming(at=self.exchange.clock.now() + self.fill_delay_seconds,
                          wall_cap_seconds=self.fill_wall_cap_seconds)

    def listed_markets(self) -> dict[str, SimMarket]:
        """The core's markets this venue lists (the core also holds other venues' kinds of market)."""
        return {s: m for s, m in self.exchange.markets().items() if m.asset_class in self.asset_classes}

    def register_credentials(self, account_id: str) -> Credentials:
        """Fresh credentials for `account_id`, valid on this face from now on (and saved with the state)."""
        credentials = self.new_credentials(account_id)
        self.install_credentials(account_id, credentials)
        if self.exchange.state is not None:
            self.exchange.state.save_credentials(self.name, account_id, credentials)
        return credentials

    def new_credentials(self, account_id: str) -> Credentials:
        """Generate a key and secret in this venue's format."""
        raise NotImplementedError

    def install_credentials(self, account_id: str, credentials: Credentials) -> None:
        """Accept these credentials for `account_id` (newly issued, or reloaded from a state file)."""
        raise NotImplementedError

    def credentials_of(self, account_id: str) -> Credentials | None:
        """The latest credentials issued on this face for the account, if any."""
        return self._issued.get(account_id)

    def restore(self) -> None:
        """Reload what this face keeps in the exchange's state file (credentials; subclasses add their own)."""
        state = self.exchange.state
        if state is None:
            return
        for saved in state.credentials(self.name):
            self.install_credentials(saved.account_id, saved.credentials)

    def ssl_context(self, workdir: Path) -> ssl.SSLContext | None:
        """A server-side TLS context when `tls` is set (workdir: where to keep a generated certificate)."""
        return None

    def client_settings(self) -> dict[str, str]:
        """Environment settings a client needs besides the URL (e.g. a CA bundle), by variable name."""
        return {}

    def fault(self, endpoint: str) -> FaultDecision:
        decision = self.exchange.faults.decide(self.name, endpoint)
        if decision.latency:
            self.stopping.wait(decision.latency)
        return decision
