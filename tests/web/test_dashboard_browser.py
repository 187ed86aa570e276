"""The dashboard in a real headless Chromium (playwright) against a real uvicorn server.

Each page is loaded after logging in with a real token; the test checks its content against
the head-end's own data and fails on any console error, page error or failed request.
Skips when Chromium is missing on a laptop; fails instead under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from sealmeter.web import Role
from tests._support import unavailable
from tests.web.conftest import WebEnv

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = os.environ.get("SEALMETER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if os.path.exists(path):
        return path
    unavailable("Chromium is not installed (run `make sysdeps` or apt-get install chromium)")


@dataclass
class Watched:
    """A browser page with every console error, page error and failed request recorded."""

    page: Any
    problems: list[str] = field(default_factory=list)

    def failed(self, url: str, why: str | None) -> None:
        """Record a failed request, except the icon fetch a navigation cancelled.

        Chromium fetches the icon after the load event; when the test moves on at once, the
        fetch is aborted (net::ERR_ABORTED). Any other failure, and any error status, counts.
        """
        if why == "net::ERR_ABORTED" and url.endswith("/ui/static/icon.svg"):
            return
        self.problems.append(f"failed ({why}): {url}")

    def clean(self) -> None:
        """Assert that nothing went wrong since the last check, then forget it."""
        found, self.problems[:] = list(self.problems), []
        assert found == [], f"the browser reported problems: {found}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Watched]:
    """A fresh browser context (no cookies) with its problems watched."""
    context = browser.new_context()
    page = context.new_page()
    watched = Watched(page)
    page.on(
        "console",
        lambda msg: (
            watched.problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda exc: watched.problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: watched.failed(req.url, req.failure))
    page.on(
        "response",
        lambda resp: (
            watched.problems.append(f"HTTP {resp.status}: {resp.url}")
            if resp.status >= 400
            else None
        ),
    )
    yield watched
    context.close()


def _login(tab: Watched, base: str, token: str, target: str = "/ui/") -> None:
    tab.page.goto(base + target)
    assert "/ui/login" in tab.page.url, "an anonymous visitor is sent to the login page"
    tab.page.fill("#token", token)
    tab.page.click("button[type=submit]")
    tab.page.wait_for_load_state("load")


def test_fleet_page_shows_meters_by_state_and_the_alert_timeline(
    live_fleet: tuple[WebEnv, str], tab: Watched
) -> None:
    env, base = live_fleet
    _login(tab, base, env.token[Role.READ_ONLY])
    page = tab.page
    assert page.url == base + "/ui/"
    assert page.title() == "Fleet · sealmeter"
    counts = env.headend.fleet(env.clock.now()).counts
    for state in ("reporting", "silent", "blocked", "tampered"):
        shown = page.text_content(f"#count-{state} .count")
        assert shown is not None
        assert int(shown) == sum(n for s, n in counts.items() if s.value == state)
    rows = page.locator("main table tbody tr")
    assert rows.count() == 5
    assert page.locator("main table").first.text_content() is not None
    all_alerts = env.headend.list_alerts(limit=1000).items
    assert page.locator("svg.timeline circle").count() == len(all_alerts)
    assert page.locator("svg.timeline text", has_text="tamper").count() == 1
    tab.clean()

    page.click("#count-silent")
    page.wait_for_load_state("load")
    listed = [
        t.strip() for t in page.locator("main table tbody tr td:first-child").all_text_contents()
    ]
    assert listed == ["m-quiet"]
    tab.clean()


def test_meter_page_charts_usage_per_band_and_lists_its_history(
    live_fleet: tuple[WebEnv, str], tab: Watched
) -> None:
    env, base = live_fleet
    _login(tab, base, env.token[Role.OPERATOR])
    tab.page.click("a[href='/ui/meters/m-wrong']")
    tab.page.wait_for_load_state("load")
    page = tab.page
    assert page.url == base + "/ui/meters/m-wrong"
    assert page.locator("h1").text_content() == "Meter m-wrong"
    regs = env.headend.list_registrations(meter_id="m-wrong", limit=1000).items
    bars = page.locator("svg.chart rect")
    assert bars.count() >= 2
    legend = page.locator("ul.legend li").all_text_contents()
    for obis in ("1.8.1", "1.8.2"):
        total = sum(g.usage for r in regs for g in r.registers if g.register == obis)
        assert f"{obis}: {total} Wh" in legend
    reg_rows = page.locator("section:has(h2:text('Registrations')) tbody tr")
    assert reg_rows.count() == len(regs)
    mismatch = page.locator("section:has(h2:text('Registrations')) .state-mismatch")
    assert mismatch.count() == 1
    bills = page.locator("section:has(h2:text('Bills')) tbody tr")
    assert bills.count() == 1
    assert "mismatch" in (bills.first.text_content() or "")
    tamper = page.locator("section:has(h2:text('Tamper history'))")
    assert "No tamper detected" in (tamper.text_content() or "")
    others = page.locator("section:has(h2:text('Other alerts')) tbody tr")
    assert "charge mismatch" in (others.first.text_content() or "")
    tab.clean()


def test_tampered_meter_page_lists_its_tamper_history(
    live_fleet: tuple[WebEnv, str], tab: Watched
) -> None:
    env, base = live_fleet
    _login(tab, base, env.token[Role.READ_ONLY], "/ui/meters/m-tamper")
    page = tab.page
    assert page.url == base + "/ui/meters/m-tamper"
    facts = page.locator("dl.facts").text_content() or ""
    assert "tampered" in facts
    tamper_rows = page.locator("section:has(h2:text('Tamper history')) tbody tr")
    assert tamper_rows.count() == 1
    assert "housing opened" in (tamper_rows.first.text_content() or "")
    tab.clean()


def test_alerts_page_lists_every_alert_newest_first(
    live_fleet: tuple[WebEnv, str], tab: Watched
) -> None:
    env, base = live_fleet
    _login(tab, base, env.token[Role.ADMIN], "/ui/alerts")
    page = tab.page
    alerts = env.headend.list_alerts(limit=1000).items
    rows = page.locator("main table tbody tr")
    assert rows.count() == len(alerts)
    kinds = [
        k.strip() for k in page.locator("main table tbody tr td:nth-child(3)").all_text_contents()
    ]
    expected = [a.kind.value.replace("_", " ") for a in reversed(alerts)]
    assert kinds == expected
    assert page.locator("svg.timeline circle").count() == len(alerts)
    tab.clean()


def test_a_wrong_token_is_refused_and_logout_forgets_the_right_one(
    live_fleet: tuple[WebEnv, str], tab: Watched
) -> None:
    env, base = live_fleet
    _login(tab, base, "smt_000000000000_wrong")
    page = tab.page
    assert "unknown API token" in (page.locator("[role=alert]").text_content() or "")
    assert [p for p in tab.problems if "401" not in p] == []
    tab.problems.clear()
    page.fill("#token", env.token[Role.READ_ONLY])
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url == base + "/ui/"
    page.click("form.logout button")
    page.wait_for_load_state("load")
    assert "/ui/login" in page.url
    page.goto(base + "/ui/alerts")
    assert "/ui/login" in page.url, "after logout the cookie is gone"
    tab.clean()


def test_unknown_meter_page_is_a_404_page(live_fleet: tuple[WebEnv, str], tab: Watched) -> None:
    env, base = live_fleet
    _login(tab, base, env.token[Role.READ_ONLY], "/ui/meters/nope")
    assert "No meter nope is provisioned" in (tab.page.text_content("main") or "")
    assert [p for p in tab.problems if "404" not in p] == []
    tab.problems.clear()


def test_api_page_lists_every_operation_offline(
    live_fleet: tuple[WebEnv, str], tab: Watched
) -> None:
    env, base = live_fleet
    _login(tab, base, env.token[Role.READ_ONLY])
    tab.page.click("nav >> text=API")
    tab.page.wait_for_load_state("load")
    assert tab.page.url == base + "/ui/api"
    operations = [
        f"{method.upper()} {path}"
        for path, methods in env.app.openapi()["paths"].items()
        for method in methods
    ]
    shown = [c.strip() for c in tab.page.locator("main tbody td:first-child").all_text_contents()]
    assert sorted(shown) == sorted(operations)
    tab.clean()
