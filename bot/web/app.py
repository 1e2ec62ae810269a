"""The cockpit's web application: pages, the REST API under /api/v1 (OpenAPI at /docs), /healthz, /metrics.

Built per server from a Board (what to show), a Gate (who may see and act) and the metrics registry.
Every handler is a plain function: FastAPI runs it on its worker threads, so a slow store read never
blocks the event loop, and nothing here runs on a trading thread.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from bot.clock import parse_since
from bot.state.operator import ALL, ControlEvent, EntryPause
from bot.state.readmodel import SignalView, TradeView
from bot.web.apidocs import DOCS_PATH, add_api_docs
from bot.web.auth import Gate
from bot.web.board import (
    AccountDetail,
    AccountRow,
    Board,
    BotStatusView,
    ControlsView,
    HealthReport,
    PositionRow,
    TrackingRow,
    needs_attention,
)
from bot.web.metrics import Metrics
from bot.web.render import STATIC, Pages, curve

API = "/api/v1"
OPEN_PATHS = ("/healthz",)  # answered without the token even off loopback: no money, no secret
COPY_PAGE_FILLS = 20  # master fills per copy page, each with every follower's copy (a page, not an archive)
_ACTOR = re.compile(r"[^A-Za-z0-9 _.@:-]")
TITLE = "NIJA cockpit"


def content_security_policy(*script_sources: str) -> str:
    """Every page's policy: everything from this server only; ``script_sources`` adds allowed inline scripts."""
    scripts = " ".join(("'self'", *script_sources))
    return (f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'")


@dataclass(frozen=True)
class WebOptions:
    """How this server behaves: in the running bot (controls possible) or a read-only viewer."""

    controls_in_process: bool
    refresh_seconds: float
    equity_sample_seconds: float


class EntriesControl(BaseModel):
    blocked: bool = Field(description="true blocks new entries on every account; false allows them again")
    reason: str = Field("", max_length=200, description="why, recorded in the control log")
    actor: str = Field("web", max_length=64, description="who, recorded in the control log")


class AccountControl(BaseModel):
    paused: bool = Field(description="true pauses this account's new entries (exits keep working); false resumes")
    reason: str = Field("", max_length=200)
    actor: str = Field("web", max_length=64)


class VersionAnswer(BaseModel):
    version: int
    running: bool
    text: str
    line: str


def _since(value: str | None) -> float | None:
    """?since= as bot.clock.parse_since reads it; what it refuses is a 422."""
    try:
        return parse_since(value)
    except ValueError as error:
        raise HTTPException(422, f"since={error}") from None


def create_app(board: Board, gate: Gate, metrics: Metrics, options: WebOptions) -> FastAPI:
    # /docs is ours (Swagger UI served offline, see apidocs); ReDoc is off: it would need the CDN or another
    # vendored bundle, and its inline styles and blob: workers do not run under the CSP below.
    app = FastAPI(
        title=TITLE, version="1", docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
        description="Read-only views of every account, position, trade, master fill and copy; two controls "
                    "(block new entries, pause one account's entries) that need the token and never block exits.",
    )
    page_policy = content_security_policy()
    docs_policy = content_security_policy(*add_api_docs(app, TITLE))
    pages = Pages()

    def controls_state() -> tuple[bool, str]:
        if not options.controls_in_process:
            return False, ("this is a read-only viewer (python bot.py web); the controls live in the running "
                           "bot's own dashboard")
        if gate.token is None:
            return False, "set WEB_TOKEN (16 or more characters) in the bot's environment to turn them on"
        return True, ""

    # ---- access and headers ---------------------------------------------------------------------------
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path not in OPEN_PATHS and not gate.may_read(request.headers.get("authorization")):
            return JSONResponse({"detail": "authentication required: the token, as a bearer token or the "
                                           "password of basic auth"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="NIJA"'})
        response = await call_next(request)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Content-Security-Policy"] = docs_policy if request.url.path == DOCS_PATH else page_policy
        if request.url.path.startswith((API, "/ui", "/healthz", "/metrics")):
            response.headers["Cache-Control"] = "no-store"
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # ---- pages --------------------------------------------------------------------------------------
    def page(request: Request, body: str, nav: str, title: str, *, pauses: list[EntryPause] | None = None,
             with_log: bool = False, **context: Any) -> HTMLResponse:
        """``pauses``: the entry pauses the handler read already; ``with_log``: the page shows the control log."""
        writable, why_not = controls_state()
        bot, mode = board.bot_and_mode()
        html = pages.render(
            body, fragment=request.headers.get("x-fragment") == "1", title=title, nav=nav, bot=bot, mode=mode,
            controls=board.controls(writable, why_not, pauses=pauses, with_log=with_log),
            refresh_seconds=options.refresh_seconds,
            version=board.read.change_token(), fragment_url=str(request.url.path) + (
                f"?{request.url.query}" if request.url.query else ""), **context,
        )
        return HTMLResponse(html)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def accounts_page(request: Request) -> HTMLResponse:
        pauses = board.operator.entry_pauses()
        rows = board.accounts(pauses)
        brokerages: dict[str, list[AccountRow]] = defaultdict(list)
        for row in rows:
            brokerages[row.broker].append(row)
        totals = {
            "equity": sum(r.equity for r in rows), "today": sum(r.realised_pnl_today for r in rows),
            "total": sum(r.pnl_total for r in rows), "positions": sum(r.open_positions for r in rows),
            "attention": sum(1 for r in rows if needs_attention(r)),
        }
        positions = [p for r in rows for p in r.positions]
        return page(request, "accounts.html", "accounts", "Accounts", pauses=pauses,
                    brokerages=list(brokerages.items()), totals=totals, positions=positions)

    @app.get("/accounts/{broker}/{account_id}", response_class=HTMLResponse, include_in_schema=False)
    def account_page(request: Request, broker: str, account_id: str) -> HTMLResponse:
        pauses = board.operator.entry_pauses()
        detail = board.account(broker, account_id, pauses)
        if detail is None:
            raise HTTPException(404, f"no account {broker}:{account_id} in the store")
        equity = curve([(p.time, p.equity) for p in detail.equity_curve])
        return page(request, "account.html", "accounts", detail.account.label, pauses=pauses, detail=detail,
                    equity=equity, sample_seconds=options.equity_sample_seconds)

    @app.get("/copy", response_class=HTMLResponse, include_in_schema=False)
    def copy_page(request: Request, before: float | None = None) -> HTMLResponse:
        grouped: dict[str, list[TrackingRow]] = defaultdict(list)
        for row in board.tracking():
            grouped[row.broker].append(row)
        signals = board.read.signals(limit=COPY_PAGE_FILLS, before=before)
        older = signals[-1].time if len(signals) == COPY_PAGE_FILLS else None
        return page(request, "copy.html", "copy", "Copy trading", tracking=list(grouped.items()), signals=signals,
                    older=older, paged=before is not None)

    @app.get("/trades", response_class=HTMLResponse, include_in_schema=False)
    def trades_page(request: Request, account: str = "") -> HTMLResponse:
        broker, _, account_id = account.partition(":")
        trades = board.read.trades(broker or None, account_id or None)[::-1][:1000]
        labels = [a.label for a in board.read.accounts(board.now())]
        return page(request, "trades.html", "trades", "Trades", trades=trades, account=account, labels=labels,
                    total=sum(t.realised_pnl for t in trades), fees=sum(t.fees for t in trades))

    @app.get("/controls", response_class=HTMLResponse, include_in_schema=False)
    def controls_page(request: Request) -> HTMLResponse:
        return page(request, "controls.html", "controls", "Controls", with_log=True)

    @app.get("/ui/version", response_model=VersionAnswer, include_in_schema=False)
    def ui_version() -> VersionAnswer:
        bot, mode = board.bot_and_mode()
        line = bot.text + ("" if bot.running else " · shown from the store")
        if mode == "paper":
            line += " · times are the paper market's simulated clock"
        return VersionAnswer(version=board.read.change_token(), running=bot.running, text=bot.text, line=line)

    # ---- REST API -----------------------------------------------------------------------------------
    api = APIRouter(prefix=API, tags=["cockpit"])

    @api.get("/accounts", response_model=list[AccountRow], summary="Every account: state, money, P&L, health")
    def api_accounts() -> list[AccountRow]:
        return board.accounts()

    @api.get("/accounts/{broker}/{account_id}", response_model=AccountDetail,
             summary="One account with its trades, equity curve and copies")
    def api_account(broker: str, account_id: str) -> AccountDetail:
        detail = board.account(broker, account_id)
        if detail is None:
            raise HTTPException(404, f"no account {broker}:{account_id} in the store")
        return detail

    @api.get("/positions", response_model=list[PositionRow], summary="Open positions")
    def api_positions(broker: str | None = None, account_id: str | None = None) -> list[PositionRow]:
        return board.positions(broker, account_id)

    @api.get("/trades", response_model=list[TradeView], summary="Closed round trips with realised P&L, newest first")
    def api_trades(
        broker: str | None = None, account_id: str | None = None,
        since: Annotated[str | None, Query(description="a date, an ISO date-time or unix seconds")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    ) -> list[TradeView]:
        return board.read.trades(broker, account_id, _since(since))[::-1][:limit]

    @api.get("/signals", response_model=list[SignalView],
             summary="Master fills, newest first, each with every follower's copy and why")
    def api_signals(
        broker: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        before: Annotated[float | None, Query(description="only fills before this time (paging)")] = None,
    ) -> list[SignalView]:
        return board.read.signals(broker, limit=limit, before=before)

    @api.get("/tracking", response_model=list[TrackingRow], summary="Each follower's results beside its master's")
    def api_tracking(broker: str | None = None) -> list[TrackingRow]:
        return board.tracking(broker)

    @api.get("/health", response_model=HealthReport, summary="The bot, its threads and its accounts' health")
    def api_health() -> HealthReport:
        return board.health()

    @api.get("/bot", response_model=BotStatusView, summary="Whether the bot runs: pid, host, heartbeat")
    def api_bot() -> BotStatusView:
        return board.bot()

    @api.get("/controls", response_model=ControlsView, summary="Entry controls in force and their log")
    def api_controls() -> ControlsView:
        return board.controls(*controls_state(), with_log=True)

    def authorised(request: Request) -> str:
        """The caller's address, once the controls are on and the bearer token matches."""
        writable, why_not = controls_state()
        if not writable:
            raise HTTPException(403, f"controls are off: {why_not}")
        if not gate.may_act(request.headers.get("authorization")):
            raise HTTPException(401, "controls need 'Authorization: Bearer <WEB_TOKEN>'",
                                headers={"WWW-Authenticate": "Bearer"})
        return request.client.host if request.client else "unknown"

    @api.post("/controls/entries", response_model=ControlEvent,
              summary="Block (or allow again) new entries on every account; exits keep working")
    def api_block_entries(request: Request, control: EntriesControl) -> ControlEvent:
        address = authorised(request)
        return board.operator.set_entry_pause(ALL, ALL, control.blocked, actor=_actor(control.actor),
                                              address=address, reason=control.reason, at=time.time())

    @api.post("/controls/accounts/{broker}/{account_id}", response_model=ControlEvent,
              summary="Pause (or resume) one account's new entries; its exits keep working")
    def api_pause_account(request: Request, broker: str, account_id: str, control: AccountControl) -> ControlEvent:
        address = authorised(request)
        if not any(a.broker == broker and a.account_id == account_id for a in board.read.accounts(board.now())):
            raise HTTPException(404, f"no account {broker}:{account_id} in the store")
        return board.operator.set_entry_pause(broker, account_id, control.paused, actor=_actor(control.actor),
                                              address=address, reason=control.reason, at=time.time())

    app.include_router(api)

    # ---- health and metrics -------------------------------------------------------------------------
    @app.get("/healthz", response_model=HealthReport, tags=["operations"],
             summary="200 when every account thread that should run is alive and not stuck, else 503 with reasons",
             responses={503: {"model": HealthReport, "description": "unhealthy, with the reasons"}})
    def healthz() -> JSONResponse:
        report = board.health()
        return JSONResponse(asdict(report), status_code=200 if report.ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _actor(text: str) -> str:
    cleaned = _ACTOR.sub("", text).strip()
    return cleaned[:64] or "web"

