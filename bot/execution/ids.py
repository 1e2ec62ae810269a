"""Identifiers that must come out the same after a crash: a master fill's signal, a follower's copy order.

Both derive from ids known before anything is sent (the master's client order id, the signal id and
the follower), so the run that books an order after a restart recreates exactly the ids the run that
sent it would have used: no second signal, no second copy order under a new id.
"""

from __future__ import annotations

from bot.brokers.base import derived_client_order_id


def signal_id_for(broker: str, master_client_order_id: str) -> str:
    """The one signal a master order can ever emit."""
    return derived_client_order_id("signal", broker, master_client_order_id)


def account_label(broker: str, account_id: str) -> str:
    """How an account is named in logs and ids (AccountConfig.label)."""
    return f"{broker}:{account_id}"


def copy_client_order_id(signal_id: str, follower_label: str) -> str:
    """The one client order id a follower's copy of a signal can ever have."""
    return derived_client_order_id(signal_id, follower_label)
