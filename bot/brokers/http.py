"""A requests adapter that puts a default timeout on every call an SDK makes through its session."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter


class TimeoutHTTPAdapter(HTTPAdapter):
    """SDKs (krakenex, alpaca-py) send without a timeout; a hung call must never hang a thread forever."""

    def __init__(self, timeout: float, *args: Any, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def mount_timeout(session: requests.Session, timeout: float) -> requests.Session:
    """Mount the timeout adapter for http and https on an SDK's session."""
    adapter = TimeoutHTTPAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
