"""The overview and the agents report draw their charts in headless Chromium (English and pt-BR), and a
CSV export downloads and parses. Screenshots: ``test-output/screenshots/reports-<locale>-<page>.png``.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from django import db

from accounts.roles import Role
from tests import factories
from tests.browser import asgi_server, browser, log_in, screenshot  # noqa: F401
from tests.reports import builders

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PERIOD = "preset=custom&date_from=2026-10-15&date_to=2026-11-13"
TEXT = {
    "en-US": {"opened": "Conversations opened", "leaderboard": "Leaderboard", "day": "10/15/2026"},
    "pt-BR": {"opened": "Conversas abertas", "leaderboard": "Ranking", "day": "15/10/2026"},
}


def off_loop(func, /, **kwargs):
    """Run in a plain thread: Playwright's sync API keeps an event loop in this one."""

    def call():
        try:
            return func(**kwargs)
        finally:
            db.connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _world(slug: str, language: str):
    world = builders.setup_org(slug)
    world.org.locale = language
    world.org.save(update_fields=["locale"])
    builders.play_month(world, count=14)
    admin = factories.member(world.org, Role.ORG_ADMIN, email=f"admin@{slug}.test").user
    return world, admin


def _charts_drawn(page) -> list[dict]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('canvas.report-chart')).map(c => {
            const chart = window.Chart && window.Chart.getChart(c);
            return {id: c.id, drawn: c.dataset.drawn === '1', points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0,
                    width: c.width, height: c.height};
        })"""
    )


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_overview_and_agents_draw_their_charts(asgi_server, browser, locale):  # noqa: F811
    text = TEXT[locale]
    slug = "browser-" + locale.lower()
    world, admin = off_loop(_world, slug=slug, language="en" if locale == "en-US" else "pt-br")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        log_in(page, asgi_server.url, admin.email, factories.PASSWORD)

        page.goto(f"{asgi_server.url}/reports/overview/?{PERIOD}")
        page.wait_for_selector("canvas.report-chart[data-drawn='1']")
        assert text["opened"] in page.inner_text("#kpis")
        charts = _charts_drawn(page)
        assert charts and all(c["drawn"] and c["points"] > 0 and c["width"] > 0 for c in charts), charts
        # The accessible table beside the chart, dates in the page's language.
        assert text["day"] in page.inner_text("#table-daily")
        screenshot(page, f"reports-{locale}-overview")

        page.goto(f"{asgi_server.url}/reports/agents/?{PERIOD}")
        page.wait_for_selector("#chart-leaderboard[data-drawn='1']")
        assert text["leaderboard"] in page.inner_text("#block-leaderboard")
        assert "agent0@" in page.inner_text("#table-leaderboard")
        screenshot(page, f"reports-{locale}-agents")

        with page.expect_download() as download_info:
            page.click("#block-leaderboard a[download]")
        download = download_info.value
        raw = open(download.path(), "rb").read()
        assert raw.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert len(rows) == 3  # header and two agents
        assert {row[0] for row in rows[1:]} == {f"agent0@{slug}.test", f"agent1@{slug}.test"}
        assert all(row[1].isdigit() for row in rows[1:])
        assert not errors, errors
    finally:
        context.close()
