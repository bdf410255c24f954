"""The wizard and the live progress in headless Chromium against Daphne, in English and pt-BR.

Screenshots: ``test-output/screenshots/campaigns-<locale>-<step>.png``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django import db

from conversations.campaigns.models import Campaign, CampaignStatus
from tests import factories
from tests.browser import asgi_server, browser, log_in, screenshot  # noqa: F401
from tests.campaigns import builders as b
from tests.conversations import factories as cf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "en-US": {"new": "New campaign", "running": "Running", "completed": "Completed", "next": "Save and continue"},
    "pt-BR": {
        "new": "Nova campanha",
        "running": "Em andamento",
        "completed": "Concluída",
        "next": "Salvar e continuar",
    },
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


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_wizard_then_live_progress(asgi_server, browser, tenant_a, graph, locale):  # noqa: F811
    text = TEXT[locale]
    org = tenant_a.org
    org.locale = "en" if locale == "en-US" else "pt-br"  # the organization's language leads the page's
    org.save(update_fields=["locale"])
    channel = cf.channel(org, name="Loja Centro")
    b.approved_template(org, channel)
    people = [b.consenting_contact(org, name=name) for name in ("Ana Paula", "Bruno Costa", "Carla Dias")]
    b.consenting_contact(org, name="Sem Consentimento", marketing=False)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tag = f"campaigns-{locale}"
    try:
        log_in(page, asgi_server.url, tenant_a.admin.email, factories.PASSWORD)
        page.goto(f"{asgi_server.url}/campaigns/")
        page.select_option("#lang-switch", "en" if locale == "en-US" else "pt-br")  # submits itself
        page.wait_for_load_state("networkidle")
        page.click("#new-campaign")
        assert page.locator("h1").inner_text() == text["new"]
        page.fill("#id_name", "Black Friday")
        page.select_option("#id_channel", label=str(channel))
        page.select_option("#id_template", index=1)
        screenshot(page, f"{tag}-1-template")
        page.click("#wizard-next")

        page.select_option('select[name="src:body.1"]', "contact.first_name")
        page.select_option('select[name="src:body.2"]', "value")
        page.fill('input[name="val:body.2"]', "30% off")
        screenshot(page, f"{tag}-2-variables")
        page.click("#wizard-next")

        page.check('input[name="audience_type"][value="all"]')
        screenshot(page, f"{tag}-3-audience")
        page.click("#wizard-next")

        page.fill("#id_messages_per_minute", "0")  # throttle off: the test delivers at once
        page.fill("#id_delay_seconds", "0")
        screenshot(page, f"{tag}-4-schedule")
        page.click("#wizard-next")

        assert page.locator("#preview-audience").inner_text() == "4"
        assert page.locator("#preview-eligible").inner_text() == "3"
        assert page.locator(".preview-sample").first.inner_text().endswith("Olá Ana, temos uma oferta: 30% off.")
        screenshot(page, f"{tag}-5-review")
        page.click("#start-campaign")
        page.wait_for_selector("#campaign-progress[hx-trigger]")
        assert page.locator("#campaign-status").inner_text() == text["running"]
        screenshot(page, f"{tag}-6-running")

        # A worker's work, done here: dispatch and deliver. The page, polling, shows it finish.
        campaign = Campaign.objects.get(organization=org, name="Black Friday")
        off_loop(b.run_to_end, campaign_=campaign)
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED
        page.wait_for_function(
            "(t) => document.querySelector('#campaign-status')?.innerText === t", arg=text["completed"], timeout=15000
        )
        assert page.locator('[data-metric="sent"]').inner_text() == "3"
        assert page.locator('[data-metric="excluded"]').inner_text() == "1"
        assert page.locator("#campaign-progress[hx-trigger]").count() == 0  # stops polling when done
        # The recipient table refreshes itself while the campaign runs (the audience is listed by the worker).
        page.wait_for_function(
            "() => document.querySelectorAll('#recipient-table tbody tr[data-state]').length === 4", timeout=15000
        )
        page.wait_for_function("() => !document.querySelector('#recipients[hx-trigger]')", timeout=15000)
        screenshot(page, f"{tag}-7-completed")
        assert sorted(graph.sent) == sorted(p.phone.lstrip("+") for p in people)
        assert not errors, errors
    finally:
        context.close()
