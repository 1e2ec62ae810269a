"""The exception tree every adapter raises; the layers above decide retry policy from the class alone.

- AuthenticationError: the key is wrong, expired or lacks permission. Stop this account, say why.
- OrderRejected: the exchange refused this one order (funds, minimum, precision). Never retried as is.
- TransientError: the exchange is busy, down, rate limiting or timed out. Back off; retry where safe.
  - RateLimitError: the exchange said slow down.
  - NonceError: Kraken refused the nonce; resync the nonce, then retry where safe.
  - ExchangeUnavailable: 5xx, connection refused, maintenance, time-out of a read-only call.
- MarketNotFound: the symbol does not exist on this exchange.
- StopRequested: the bot is stopping; the call was not sent (see bot.brokers.stopping). Not an
  exchange failure: nothing is retried and no health error is counted.

Order creation is never blindly retried: a failed AddOrder is looked up by client order id
first (see Broker.place_order).
"""

from __future__ import annotations


class BrokerError(Exception):
    """Any failure that comes from talking to an exchange."""

    def __init__(self, message: str, *, broker: str = "", raw: object = None) -> None:
        super().__init__(message)
        self.broker = broker
        self.raw = raw


class AuthenticationError(BrokerError):
    """Credentials refused: this account cannot trade until the user fixes its keys."""


class OrderRejected(BrokerError):
    """The exchange (or our pre-check of its rules) refused one order; the reason is the message."""


class MarketNotFound(BrokerError):
    """The symbol is not listed (or not tradable) on this exchange."""


class TransientError(BrokerError):
    """Temporary: back off and try again later (order creation only after a lookup)."""


class RateLimitError(TransientError):
    """The exchange asked us to slow down."""


class NonceError(TransientError):
    """Kraken refused our nonce; the adapter resyncs before any retry."""


class ExchangeUnavailable(TransientError):
    """5xx, connection failure, time-out or maintenance."""


class StopRequested(BrokerError):
    """The bot is stopping: this exchange call or wait was not started (nothing reached the exchange)."""


def is_retryable(error: BaseException) -> bool:
    """The one place that says whether a failed read-only call may be tried again."""
    return isinstance(error, TransientError)
