"""End to end in headless Chromium: an org admin opens the usage page in English and in Portuguese."""

import pytest

from accounts import limits
from tests import factories
from tests.browser import asgi_server, browser, log_in, page, screenshot  # noqa: F401
from tests.conversations import factories as cf


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_org_admin_reads_the_usage_page_in_both_languages(asgi_server, page, tenant_a):  # noqa: F811
    org = tenant_a.org
    type(tenant_a.admin).objects.filter(pk=tenant_a.admin.pk).update(language="en")
    cf.channel(org, kind="console")
    cf.contact(org)
    limits.usage_increment(organization=org, field="messages_sent", by=82_000)
    limits.usage_increment(organization=org, field="messages_received", by=1_234)
    limits.usage_increment(organization=org, field="appointments_created", by=4_999)
    log_in(page, asgi_server.url, "admin@alpha.test", factories.PASSWORD)
    page.click("nav.mainnav a[href='/settings/usage/']")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Usage and plan limits"
    messages = page.locator("tr[data-resource=messages]")
    assert "82000" in messages.inner_text() and "82%" in messages.inner_text()
    bar = messages.locator(".usage-fill")
    track = messages.locator(".usage-bar")
    share = bar.bounding_box()["width"] / track.bounding_box()["width"]
    assert 0.78 < share < 0.82  # the 80% class, drawn by the stylesheet
    assert "usage-high" in bar.get_attribute("class")
    assert page.locator("#usage-history tbody tr").count() == 6
    screenshot(page, "usage-en")

    page.select_option("#lang-switch", "pt-br")
    # The switch submits and reloads: wait for the new page, not for a network lull that may come first.
    page.wait_for_selector("html[lang=pt-br], html[lang=pt-BR]")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Uso e limites do plano"
    assert "Mensagens enviadas neste mês" in page.locator("#usage-limits").inner_text()
    assert "Últimos 6 meses" in page.content()
    screenshot(page, "usage-pt-br")
    assert page.console_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_agents_get_no_usage_link_and_a_403(asgi_server, page, tenant_a):  # noqa: F811
    log_in(page, asgi_server.url, "agent@alpha.test", factories.PASSWORD)
    assert page.locator("nav.mainnav a[href='/settings/usage/']").count() == 0
    response = page.goto(f"{asgi_server.url}/settings/usage/")
    assert response.status == 403
