"""`python -m bot.web.healthcheck`: exit 0 when the running bot's /healthz answers 200, else 1 with the reasons.

The Docker image's HEALTHCHECK runs it inside the container, where the dashboard listens on WEB_HOST:WEB_PORT
(loopback by default). It imports no web framework: a health check every 30 s must cost next to nothing.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from bot.config.errors import ConfigError
from bot.config.settings import load_settings

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"unhealthy: configuration error: {error}")
        return 1
    web = settings.web
    if not web.web_enabled or web.web_port == 0:
        print("unhealthy: the dashboard is off (WEB_ENABLED=false or WEB_PORT=0), so there is no /healthz to ask")
        return 1
    host = _WILDCARDS.get(web.web_host, web.web_host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{web.web_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=8) as answer:
            body = json.loads(answer.read() or b"{}")
            print(f"healthy: {body.get('threads', 0)} thread(s) alive (accounts and copy dispatchers); "
                  f"{body.get('bot', {}).get('text', '')}")
            return 0
    except urllib.error.HTTPError as error:
        try:
            problems = json.loads(error.read() or b"{}").get("problems", [])
        except ValueError:
            problems = []
        print(f"unhealthy: HTTP {error.code}: {'; '.join(problems) or error.reason}")
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"unhealthy: no answer from {url} ({getattr(error, 'reason', error)})")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
