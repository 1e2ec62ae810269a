"""/docs works offline: Swagger UI's page and every file it loads come from the bot itself, over real HTTP from
a real uvicorn server, under the same Content-Security-Policy as every other page (the browser half is in
test_browser.py)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from bot.web.auth import Gate
from tests.web.conftest import viewer_server

TOKEN = "docs-token-0123456789abcdef"
API_PATHS = ("/api/v1/accounts", "/api/v1/accounts/{broker}/{account_id}", "/api/v1/positions", "/api/v1/trades",
             "/api/v1/signals", "/api/v1/tracking", "/api/v1/health", "/api/v1/bot", "/api/v1/controls",
             "/api/v1/controls/entries", "/api/v1/controls/accounts/{broker}/{account_id}")
EXPECTED_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
                  ".png": ("image/png",)}


class Loads(HTMLParser):
    """What a page makes the browser fetch (script src, link href) and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[tuple[str, str]] = []  # (rel, href)
        self.inline: list[str] = []
        self._in_inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.scripts.append(found["src"] or "")
            else:
                self._in_inline = True
                self.inline.append("")
        elif tag == "link" and found.get("href"):
            self.links.append((found.get("rel") or "", found["href"] or ""))
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            assert name not in found or tag in ("script", "link"), f"<{tag} {name}=...> in the docs page"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline = False

    def handle_data(self, data: str) -> None:
        if self._in_inline:
            self.inline[-1] += data


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with viewer_server(tmp_path_factory.mktemp("docs")) as url:
        yield url


@pytest.fixture(scope="module")
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=10.0) as client:
        yield client


def loads(html: str) -> Loads:
    parser = Loads()
    parser.feed(html)
    return parser


def test_docs_and_every_script_and_stylesheet_it_loads_are_served_by_the_bot(http: httpx.Client) -> None:
    page = http.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    found = loads(page.text)
    stylesheets = [href for rel, href in found.links if rel == "stylesheet"]
    assert found.scripts and stylesheets, "Swagger UI needs its script and its stylesheet"
    for url in [*found.scripts, *(href for _, href in found.links)]:
        answer = http.get(url)
        assert answer.status_code == 200, url
        kind = answer.headers["content-type"].split(";")[0]
        assert kind in EXPECTED_TYPES[Path(url).suffix], f"{url}: {kind}"
        assert answer.headers["x-content-type-options"] == "nosniff"  # so the type must be right, and is
        assert len(answer.content) > 500, url
    bundle = http.get(found.scripts[0]).text
    assert "SwaggerUIBundle" in bundle and "SwaggerUIBundle(" in found.inline[0]


def test_no_url_in_the_docs_page_points_off_the_machine(http: httpx.Client) -> None:
    html = http.get("/docs").text
    found = loads(html)
    for url in [*found.scripts, *(href for _, href in found.links)]:
        assert url.startswith("/") and not url.startswith("//"), url
    assert "://" not in html and not re.search(r"""['"]//""", html), "an absolute URL in the docs page"
    assert re.search(r"""url: ['"]/openapi\.json['"]""", found.inline[0])
    # Swagger UI's default validator badge is an image from a public server, given our spec's address: off.
    assert '"validatorUrl": null' in found.inline[0]


def test_openapi_json_lists_the_api_paths(http: httpx.Client) -> None:
    answer = http.get("/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    for path in API_PATHS:
        assert path in paths, path
    assert "get" in paths["/api/v1/accounts"]
    assert not any(p.startswith(("/docs", "/swagger-ui", "/static")) for p in paths)


def test_docs_runs_under_the_pages_policy_with_only_its_own_inline_script_added(http: httpx.Client) -> None:
    page, home = http.get("/docs"), http.get("/")
    inline = loads(page.text).inline
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    policy = page.headers["content-security-policy"]
    assert policy == home.headers["content-security-policy"].replace(
        "script-src 'self';", f"script-src 'self' 'sha256-{digest}';")
    assert "unsafe" not in policy and "*" not in policy
    for name in ("x-frame-options", "x-content-type-options", "referrer-policy"):
        assert page.headers[name] == home.headers[name], name


def test_redoc_the_oauth_redirect_and_the_packages_other_files_are_not_served(http: httpx.Client) -> None:
    asset_dir = loads(http.get("/docs").text).scripts[0].rsplit("/", 1)[0]
    for url in ("/redoc", "/docs/oauth2-redirect", f"{asset_dir}/index.html", f"{asset_dir}/swagger-initializer.js",
                f"{asset_dir}/oauth2-redirect.html", f"{asset_dir}/..%2F__init__.py", f"{asset_dir}/../__init__.py"):
        assert http.get(url).status_code == 404, url


def test_off_loopback_the_docs_and_their_assets_need_the_token(tmp_path: Path) -> None:
    with viewer_server(tmp_path, Gate("0.0.0.0", TOKEN)) as url, httpx.Client(base_url=url, timeout=10.0) as http:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        page = http.get("/docs", headers=bearer)
        assert page.status_code == 200 and TOKEN not in page.text
        found = loads(page.text)
        for path in ("/docs", "/openapi.json", *found.scripts, *(href for _, href in found.links)):
            assert http.get(path).status_code == 401, path
            assert http.get(path, headers=bearer).status_code == 200, path
