"""End to end in headless Chromium: an org admin logs in and sees only their organization."""

import pytest

from tests import factories
from tests.browser import asgi_server, browser, log_in, page, screenshot  # noqa: F401


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_org_admin_sees_only_their_org_in_the_admin(asgi_server, page, tenant_a, tenant_b):  # noqa: F811
    type(tenant_a.admin).objects.filter(pk=tenant_a.admin.pk).update(language="en")
    factories.queue(tenant_a.org, name="Alpha Queue")
    factories.queue(tenant_b.org, name="Beta Queue")
    log_in(page, asgi_server.url, "admin@alpha.test", factories.PASSWORD)
    assert page.url.rstrip("/") == asgi_server.url
    assert page.locator("nav.mainnav").inner_text().split()[0] == "Overview"
    assert page.locator("h1").inner_text() == "Alpha Org"
    screenshot(page, "foundation-dashboard-en")

    page.click("nav.mainnav a[href='/admin/']")
    page.wait_for_load_state("networkidle")
    assert "Alpha Org" in page.locator("#site-name").inner_text()
    page.click("#content-main a[href$='/admin/accounts/queue/']")
    page.wait_for_load_state("networkidle")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Alpha Queue" in rows.first.inner_text()
    assert "Beta" not in page.content()
    screenshot(page, "foundation-admin-queues")

    response = page.goto(f"{asgi_server.url}/admin/accounts/queue/{tenant_b.org.queues.get().pk}/change/")
    assert response.status == 404
    assert "Beta" not in page.content()
    assert page.console_errors == [] or all("404" in e for e in page.console_errors)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_language_switch_to_portuguese(asgi_server, page, tenant_a):  # noqa: F811
    log_in(page, asgi_server.url, "agent@alpha.test", factories.PASSWORD)
    page.select_option("#lang-switch", "pt-br")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "pt-br"
    assert page.locator("nav.mainnav").inner_text().split()[0] == "Visão"
    screenshot(page, "foundation-dashboard-pt-br")
    page.click("#status-card button[value=online]")
    page.wait_for_selector("#status-card button[value=online][aria-pressed=true]")
    assert page.console_errors == []
