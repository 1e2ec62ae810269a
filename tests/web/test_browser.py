"""The dashboard in a real browser (issue 12): Debian's Chromium, headless, driven by Playwright, against a
paper-mode bot serving its own dashboard. The page lists every account with its state; after a master fill the
copies appear without a reload. The API docs (/docs) render every operation from the bot's own files, with no
request failed or sent elsewhere. Screenshots are saved under artifacts/screenshots (git-ignored)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import CockpitRun, master_fills, start_cockpit, viewer_server

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
# No network here: without these, Chromium keeps trying to reach Google's services at start.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

if not CHROMIUM.exists():  # .ci/run installs it (apt-get install chromium): CI never skips
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import (  # noqa: E402 - only when there is a browser
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    expect,
    sync_playwright,
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data-dir, nothing of a previous run
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context  # type: ignore[misc]
        context.close()


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[CockpitRun]:
    run = start_cockpit(tmp_path, WEB_ENABLED="true", WEB_PORT="0", WEB_REFRESH_SECONDS="0.5")
    yield run
    run.stop()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_every_account_is_listed_and_a_copy_appears_without_a_reload(browser: Browser, bot: CockpitRun) -> None:
    url = bot.cockpit.url
    assert url is not None
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(url)
    page.wait_for_selector("tr.account[data-account]")
    accounts = page.eval_on_selector_all("tr.account", "rows => rows.map(r => [r.dataset.account, r.dataset.state])")
    assert accounts == [["kraken:master", "TRADING"], ["kraken:demo_user_1", "FOLLOWING"],
                        ["kraken:demo_user_2", "FOLLOWING"]]
    assert page.inner_text("#bot-status") == "● running"
    shot(page, "accounts")

    page.goto(f"{url}/copy")
    assert page.locator("tr.copy").count() == 0
    page.evaluate("window.nijaMarker = 'same page'")  # a reload would lose it
    bot.step_until(lambda: bool(master_fills(bot.store, "buy")), 24 * 3600, "a master entry")
    bot.step()
    first = bot.store.signals("kraken")[0]
    fill = page.locator(f'article[data-signal="{first.signal_id}"]')
    expect(fill.locator("tr.copy[data-status=filled]")).to_have_count(2, timeout=30_000)  # no reload: the script
    followers = fill.locator("tr.copy").evaluate_all("rows => rows.map(r => r.dataset.follower)")
    assert followers == ["demo_user_1", "demo_user_2"]
    assert page.evaluate("window.nijaMarker") == "same page"
    assert "x 2500.00 / 10000.00" in fill.inner_text()  # how each copy was sized, under its row
    shot(page, "copy-trading")

    page.goto(url)
    page.wait_for_selector("table.positions")
    shot(page, "accounts-with-positions")
    page.goto(f"{url}/accounts/kraken/demo_user_1")
    expect(page.locator(f'tr.copy[data-signal="{first.signal_id}"]')).to_have_attribute("data-status", "filled")
    shot(page, "follower")
    phone = browser.new_page()  # type: ignore[attr-defined]
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{url}/copy")
    phone.wait_for_selector("tr.copy")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    shot(phone, "copy-trading-phone")


def test_the_api_docs_render_every_operation_from_the_bots_own_files(browser: Browser, tmp_path: Path) -> None:
    with viewer_server(tmp_path) as url:
        spec = browser.request.get(f"{url}/openapi.json").json()  # type: ignore[attr-defined]
        operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
        page = browser.new_page()  # type: ignore[attr-defined]
        requested: list[str] = []
        problems: list[str] = []

        def on_response(answer: Response) -> None:
            if answer.status >= 400:
                problems.append(f"{answer.status}: {answer.url}")

        def on_console(message: ConsoleMessage) -> None:  # a CSP refusal is reported here
            if message.type in ("error", "warning"):
                problems.append(f"console {message.type}: {message.text}")

        def on_failed(request: Request) -> None:
            problems.append(f"failed: {request.url} {request.failure}")

        page.on("request", lambda request: requested.append(request.url))
        page.on("requestfailed", on_failed)
        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.goto(f"{url}/docs")
        accounts = page.locator('.opblock-get .opblock-summary-path[data-path="/api/v1/accounts"]')
        expect(accounts).to_have_count(1, timeout=30_000)
        shown = page.locator(".opblock").evaluate_all(
            "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').innerText, "
            "b.querySelector('.opblock-summary-path').dataset.path])")
        assert {(method, path) for method, path in shown} == operations
        block = page.locator(".opblock-get", has=page.locator('.opblock-summary-path[data-path="/api/v1/accounts"]'))
        block.locator(".opblock-summary-control").click()  # open it, and call the API from the page
        block.locator("button.try-out__btn").click()
        block.locator("button.execute").click()
        expect(block.locator(".live-responses-table tbody .response-col_status")).to_have_text("200", timeout=10_000)
        shot(page, "api-docs")
        origin = urlsplit(url).netloc
        assert requested and all(urlsplit(r).netloc == origin for r in requested), requested
        assert any(r.endswith("/openapi.json") for r in requested)
        assert problems == []
        page.close()
