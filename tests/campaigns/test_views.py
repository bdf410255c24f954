"""Pages: list, detail and its partials, the wizard, actions, CSV export, permissions and tenancy; the admin."""

from __future__ import annotations

import csv
import io

import pytest

from conversations.campaigns import services
from conversations.campaigns.models import Campaign, CampaignStatus
from tests.campaigns import builders as b
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


def test_wizard_creates_a_campaign_step_by_step_and_starts_it(tenant_a, client_for, graph):
    org = tenant_a.org
    channel = cf.channel(org)
    template = b.approved_template(org, channel)
    vip = cf.tag(org, "vip")
    ana = b.consenting_contact(org, name="Ana Paula", tags=[vip])
    b.consenting_contact(org, name="Not Tagged")
    client = client_for(tenant_a.admin)

    response = client.post("/campaigns/new/", {"name": "Black Friday", "channel": channel.pk, "template": template.pk})
    campaign = Campaign.objects.get(name="Black Friday")
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{campaign.pk}/edit/variables/"
    page = client.get(response["Location"])
    assert b"Body {{1}}" in page.content
    # A fixed text left empty is an error shown inline.
    refused = client.post(
        response["Location"], {"src:body.1": "contact.first_name", "src:body.2": "value", "val:body.2": ""}
    )
    assert refused.status_code == 400 and "Type the custom field" in refused.content.decode()
    response = client.post(
        response["Location"], {"src:body.1": "contact.first_name", "src:body.2": "value", "val:body.2": "20% off"}
    )
    assert response["Location"].endswith("/edit/audience/")
    response = client.post(
        response["Location"], {"audience_type": "tags", "audience_tags": [vip.pk], "tag_match": "any"}
    )
    assert response["Location"].endswith("/edit/schedule/")
    response = client.post(
        response["Location"],
        {"messages_per_minute": "600", "delay_seconds": "0", "send_window_start": "", "send_window_end": ""},
    )
    assert response["Location"].endswith("/edit/review/")
    review = client.get(response["Location"]).content.decode()
    assert "Olá Ana, temos uma oferta: 20% off." in review
    assert 'id="preview-eligible">1<' in review

    response = client.post(f"/campaigns/{campaign.pk}/act/", {"action": "start"})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING and campaign.created_by == tenant_a.admin
    assert not campaign.recipients.exists()  # the worker lists the audience; the page says so meanwhile
    assert "Preparing the audience" in client.get(f"/campaigns/{campaign.pk}/").content.decode()
    services.campaign_freeze(campaign_id=campaign.pk)
    assert list(campaign.recipients.values_list("contact_id", flat=True)) == [ana.pk]
    b.run_to_end(campaign)

    detail = client.get(f"/campaigns/{campaign.pk}/")
    assert b'data-metric="sent">1<' in detail.content
    partial = client.get(f"/campaigns/{campaign.pk}/", headers={"HX-Request": "true", "HX-Target": "campaign-progress"})
    assert partial.content.decode().lstrip().startswith('<section class="card" id="campaign-progress"')
    assert b"<html" not in partial.content
    exported = client.get(f"/campaigns/{campaign.pk}/recipients.csv")
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert rows[0][:4] == ["position", "contact", "phone", "status"]
    assert rows[1][1:4] == ["Ana Paula", ana.phone, "sent"]


def test_the_running_campaign_polls_its_progress_and_a_finished_one_does_not(tenant_a, client_for, graph):
    org = tenant_a.org
    b.consenting_contact(org)
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    client = client_for(tenant_a.viewer)
    assert b'hx-trigger="every 3s"' in client.get(f"/campaigns/{campaign.pk}/").content
    b.run_to_end(campaign)
    assert b'hx-trigger="every 3s"' not in client.get(f"/campaigns/{campaign.pk}/").content


def test_csv_cells_cannot_be_spreadsheet_formulas(tenant_a, client_for):
    org = tenant_a.org
    b.consenting_contact(org, name="=HYPERLINK(1)")
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    services.campaign_freeze(campaign_id=campaign.pk)
    body = b"".join(client_for(tenant_a.admin).get(f"/campaigns/{campaign.pk}/recipients.csv").streaming_content)
    assert b"'=HYPERLINK(1)" in body


def test_viewers_read_but_cannot_create_or_act(tenant_a, client_for):
    campaign = b.campaign(tenant_a.org, tenant_a.admin)
    viewer = client_for(tenant_a.viewer)
    assert viewer.get("/campaigns/").status_code == 200
    assert b'id="new-campaign"' not in viewer.get("/campaigns/").content
    assert viewer.get(f"/campaigns/{campaign.pk}/").status_code == 200
    assert viewer.get("/campaigns/new/").status_code == 403
    assert viewer.post(f"/campaigns/{campaign.pk}/act/", {"action": "start"}).status_code == 403
    assert viewer.get(f"/campaigns/{campaign.pk}/edit/audience/").status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_agents_need_the_organizations_permission(tenant_a, client_for):
    agent = client_for(tenant_a.agent)
    assert agent.get("/campaigns/new/").status_code == 403
    services.campaign_settings_update(organization=tenant_a.org, agents_may_create=True)
    assert agent.get("/campaigns/new/").status_code == 200


def test_another_organizations_campaign_is_404_everywhere(tenant_a, tenant_b, client_for):
    other = b.campaign(tenant_b.org, tenant_b.admin)
    client = client_for(tenant_a.admin)
    for url in (
        f"/campaigns/{other.pk}/",
        f"/campaigns/{other.pk}/recipients.csv",
        f"/campaigns/{other.pk}/edit/template/",
    ):
        assert client.get(url).status_code == 404
    assert client.post(f"/campaigns/{other.pk}/act/", {"action": "cancel"}).status_code == 404
    assert other.name.encode() not in client.get("/campaigns/").content
    assert client.get(f"/admin/campaigns/campaign/{other.pk}/change/").status_code in (302, 404)


def test_admin_actions_go_through_the_services(tenant_a, client_for, graph):
    b.consenting_contact(tenant_a.org)
    campaign = b.campaign(tenant_a.org, tenant_a.admin)
    client = client_for(tenant_a.admin)
    response = client.post(
        "/admin/campaigns/campaign/", {"action": "start", "_selected_action": [campaign.pk]}, follow=True
    )
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    client.post("/admin/campaigns/campaign/", {"action": "pause", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert client.get("/admin/campaigns/campaign/").status_code == 200
    assert client.get("/admin/campaigns/campaignrecipient/").status_code == 200
