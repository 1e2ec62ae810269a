"""The API's docs page (/docs): Swagger UI served by the bot itself, so it works on a machine without internet.

FastAPI's own /docs loads Swagger UI from a CDN, which a trading box behind a firewall cannot reach (a blank
page). The assets come from the pinned `swagger-ui-bundle-v2` package (Apache-2.0), are served from a path
that carries their version (so a browser may keep them), and only the few files the page needs are served.
The page is FastAPI's `get_swagger_ui_html`; its one inline script is allowed by its SHA-256 hash, so /docs
runs under the same Content-Security-Policy as every other page, with nothing loosened but that one script.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
SWAGGER_UI = Path(str(swagger_ui_path))
SWAGGER_UI_VERSION = SWAGGER_UI.name.removeprefix("swagger-ui-")
ASSETS_PATH = f"/swagger-ui/{SWAGGER_UI_VERSION}"
#: the files the page loads (and the source maps a browser's developer tools ask for); nothing else of the
#: package is served: its index.html and initializer point at a public demo API
ASSETS = ("swagger-ui-bundle.js", "swagger-ui-bundle.js.map", "swagger-ui.css", "swagger-ui.css.map",
          "favicon-32x32.png")
#: a versioned path never changes content; "private": off loopback the assets sit behind the token
ASSET_CACHE = "private, max-age=31536000, immutable"
#: validatorUrl null: Swagger UI would otherwise show a badge loaded from a public validator, sending it the
#: address of our spec (off the machine, and a leak of where the bot runs)
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_script_hashes(html: str) -> tuple[str, ...]:
    """CSP source expressions ('sha256-...') allowing exactly the page's inline scripts."""
    return tuple("'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
                 for body in _INLINE_SCRIPT.findall(html))


def add_api_docs(app: FastAPI, title: str) -> tuple[str, ...]:
    """Serve /docs and its assets from this app; the script sources the page's CSP must allow beyond 'self'.

    The app must be created with ``docs_url=None`` (FastAPI's CDN page) and ``redoc_url=None``.
    """
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json", title=f"{title} - API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png", swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    html = bytes(page.body).decode()

    @app.get(DOCS_PATH, response_class=HTMLResponse, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(html)

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    def swagger_ui_asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise HTTPException(404, f"no {name} here")
        media_type = "application/json" if name.endswith(".map") else None  # None: guessed from the name
        return FileResponse(SWAGGER_UI / name, media_type=media_type, headers={"Cache-Control": ASSET_CACHE})

    return inline_script_hashes(html)
