"""Audiences: types, every exclusion reason counted, frozen at start, the frequency cap, the preview."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from conversations.campaigns import selectors, services
from conversations.campaigns.models import (
    AudienceType,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    ExclusionReason,
    MessagePrice,
    RecipientStatus,
    TagMatch,
)
from conversations.models import Contact, OptIn
from conversations.services import consent
from tests.campaigns import builders as b
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


def _every_reason(org):
    """One contact per exclusion reason, plus two that may receive the campaign."""
    ok = [b.consenting_contact(org, name="Ana Souza"), b.consenting_contact(org, name="Bruno Lima")]
    opted_out = b.consenting_contact(org, name="Out")
    consent.contact_set_opt_in(contact=opted_out, opt_in=OptIn.OPTED_OUT)
    no_marketing = b.consenting_contact(org, name="Nomkt", marketing=False)
    blocked = b.consenting_contact(org, name="Blocked", blocked=True)
    no_phone = b.consenting_contact(org, name="Nophone", phone="", email="np@example.com")
    bad_phone = b.consenting_contact(org, name="Badphone")
    Contact.objects.filter(pk=bad_phone.pk).update(phone="+999123")  # imported before validation existed
    no_name = b.consenting_contact(org, name="")  # first_name is mapped: the variable would be empty
    return {
        "ok": ok,
        ExclusionReason.OPTED_OUT: opted_out,
        ExclusionReason.NO_MARKETING_CONSENT: no_marketing,
        ExclusionReason.BLOCKED: blocked,
        "no_phone": no_phone,
        "bad_phone": bad_phone,
        ExclusionReason.MISSING_VARIABLES: no_name,
    }


def test_every_exclusion_is_counted_by_reason_in_the_preview_and_frozen_at_start(tenant_a, graph):
    org = tenant_a.org
    people = _every_reason(org)
    campaign = b.campaign(org, tenant_a.admin)

    preview = selectors.campaign_preview(campaign=campaign)
    assert preview.audience == 8
    assert preview.eligible == 2
    assert preview.excluded == {
        ExclusionReason.OPTED_OUT: 1,
        ExclusionReason.NO_MARKETING_CONSENT: 1,
        ExclusionReason.BLOCKED: 1,
        ExclusionReason.INVALID_PHONE: 2,
        ExclusionReason.MISSING_VARIABLES: 1,
    }
    assert [s["text"] for s in preview.samples] == [
        "Olá Ana, temos uma oferta: 10% off.",
        "Olá Bruno, temos uma oferta: 10% off.",
    ]
    assert preview.sample_errors and "Body {{1}}" in preview.sample_errors[0]

    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.waiting_for) == (CampaignStatus.RUNNING, "audience")
    assert services.campaign_freeze(campaign_id=campaign.pk) == 8  # what the first dispatch does first
    assert services.campaign_freeze(campaign_id=campaign.pk) == 0  # once
    frozen = b.statuses(campaign)
    assert {frozen[c.pk] for c in people["ok"]} == {(RecipientStatus.QUEUED, "")}
    for reason in (ExclusionReason.OPTED_OUT, ExclusionReason.NO_MARKETING_CONSENT, ExclusionReason.BLOCKED):
        assert frozen[people[reason].pk] == (RecipientStatus.EXCLUDED, reason)
    assert frozen[people["no_phone"].pk] == (RecipientStatus.EXCLUDED, ExclusionReason.INVALID_PHONE)
    assert frozen[people["bad_phone"].pk] == (RecipientStatus.EXCLUDED, ExclusionReason.INVALID_PHONE)

    # Frozen: a contact added (or tagged) after the start is not in this campaign.
    late = b.consenting_contact(org, name="Late Comer")
    b.run_to_end(campaign)
    assert late.pk not in b.statuses(campaign)
    assert campaign.status == CampaignStatus.COMPLETED
    assert sorted(graph.sent) == sorted(c.phone.lstrip("+") for c in people["ok"])
    metrics = selectors.campaign_metrics(campaign=campaign)
    assert (metrics.audience, metrics.excluded, metrics.sent, metrics.failed) == (8, 6, 2, 0)


def test_utility_templates_need_no_marketing_consent(tenant_a, graph):
    org = tenant_a.org
    b.consenting_contact(org, name="Nomkt", marketing=False)
    campaign = b.campaign(org, tenant_a.admin, category="utility")
    assert selectors.campaign_preview(campaign=campaign).eligible == 1


def test_a_contact_who_opts_out_after_the_freeze_is_not_sent_to(tenant_a, graph):
    org = tenant_a.org
    stays, leaves = b.consenting_contact(org, name="Stays"), b.consenting_contact(org, name="Leaves")
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    services.campaign_freeze(campaign_id=campaign.pk)
    consent.contact_set_opt_in(contact=leaves, opt_in=OptIn.OPTED_OUT)
    b.run_to_end(campaign)
    assert b.statuses(campaign)[leaves.pk] == (RecipientStatus.SKIPPED, ExclusionReason.OPTED_OUT)
    assert list(graph.sent) == [stays.phone.lstrip("+")]


def test_audience_by_tags_any_and_all_by_list_and_by_segment(tenant_a):
    org = tenant_a.org
    vip, promo = cf.tag(org, "vip"), cf.tag(org, "promo")
    both = b.consenting_contact(org, name="Both", tags=[vip, promo])
    only_vip = b.consenting_contact(org, name="Vip", tags=[vip])
    b.consenting_contact(org, name="None")

    def audience(**fields):
        campaign = b.campaign(org, tenant_a.admin, **fields)
        return set(selectors.audience_contacts(campaign=campaign).values_list("pk", flat=True))

    assert audience(audience_type=AudienceType.TAGS, audience_tags=[vip, promo], tag_match=TagMatch.ANY) == {
        both.pk,
        only_vip.pk,
    }
    assert audience(audience_type=AudienceType.TAGS, audience_tags=[vip, promo], tag_match=TagMatch.ALL) == {both.pk}
    assert audience(audience_type=AudienceType.LIST, audience_contacts=[only_vip]) == {only_vip.pk}
    segment = services.segment_create(
        organization=org, name="VIP leads", filters={"tags": [vip.pk], "consent": "marketing"}
    )
    assert audience(audience_type=AudienceType.SEGMENT, segment=segment) == {both.pk, only_vip.pk}
    assert len(audience(audience_type=AudienceType.ALL)) == 3


def test_custom_list_from_csv_reports_numbers_that_match_no_contact(tenant_a):
    org = tenant_a.org
    known = b.consenting_contact(org, name="Known")
    campaign = b.campaign(org, tenant_a.admin)
    found, unknown = services.campaign_contacts_from_csv(
        campaign=campaign, by=tenant_a.admin, text=f"phone\n{known.phone}\n+5511999990000\nnot a phone\n"
    )
    assert (found, unknown) == (1, ["not a phone", "+5511999990000"])
    assert list(campaign.audience_contacts.all()) == [known]


def test_frequency_cap_across_campaigns(tenant_a, graph):
    """Two marketing messages in 7 days: a third campaign excludes the contact; a utility one does not."""
    org = tenant_a.org
    capped, fresh = b.consenting_contact(org, name="Capped One"), b.consenting_contact(org, name="Fresh One")
    channel = cf.channel(org)
    for _n in range(2):
        first = b.campaign(
            org, tenant_a.admin, channel=channel, audience_type=AudienceType.LIST, audience_contacts=[capped]
        )
        services.campaign_start(campaign=first, by=tenant_a.admin)
        b.run_to_end(first)
    third = b.campaign(org, tenant_a.admin, channel=channel)
    assert selectors.campaign_preview(campaign=third).excluded == {ExclusionReason.FREQUENCY_CAP: 1}
    services.campaign_start(campaign=third, by=tenant_a.admin)
    services.campaign_freeze(campaign_id=third.pk)
    assert b.statuses(third)[capped.pk] == (RecipientStatus.EXCLUDED, ExclusionReason.FREQUENCY_CAP)
    assert b.statuses(third)[fresh.pk] == (RecipientStatus.QUEUED, "")
    # Eight days later the window has passed.
    later = timezone.now() + datetime.timedelta(days=8)
    fourth = b.campaign(org, tenant_a.admin, channel=channel)
    assert selectors.campaign_preview(campaign=fourth, now=later).excluded == {}
    utility = b.campaign(org, tenant_a.admin, channel=channel, category="utility")
    assert selectors.campaign_preview(campaign=utility).excluded == {}
    # The organization can lower the cap.
    services.campaign_settings_update(organization=org, frequency_cap_messages=3)
    assert selectors.campaign_preview(campaign=fourth).excluded == {}


def test_preview_estimates_cost_by_country_code_and_duration(tenant_a):
    org = tenant_a.org
    for _n in range(3):
        b.consenting_contact(org)
    b.consenting_contact(org, phone="+14155550123")
    MessagePrice.objects.create(organization=org, country_code="55", category="marketing", price="0.0625")
    MessagePrice.objects.create(organization=org, country_code="1", category="marketing", price="0.0250")
    campaign = b.campaign(org, tenant_a.admin, messages_per_minute=30)
    preview = selectors.campaign_preview(campaign=campaign)
    assert preview.eligible == 4
    assert preview.cost == Decimal("0.2125")
    assert preview.unpriced == 0
    assert preview.duration == datetime.timedelta(seconds=6)  # 3 gaps of 2 s


def test_start_refuses_an_unapproved_template_or_an_unmapped_variable(tenant_a):
    org = tenant_a.org
    campaign = b.campaign(org, tenant_a.admin, variable_mapping={"body.1": {"source": "contact", "field": "name"}})
    with pytest.raises(ValidationError) as refused:
        services.campaign_start(campaign=campaign, by=tenant_a.admin)
    assert "Body {{2}} is not mapped" in " ".join(refused.value.messages)
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()


def test_viewers_never_manage_and_agents_only_when_allowed(tenant_a):
    org = tenant_a.org
    with pytest.raises(PermissionDenied):
        b.campaign(org, tenant_a.viewer)
    with pytest.raises(PermissionDenied):
        b.campaign(org, tenant_a.agent)
    services.campaign_settings_update(organization=org, agents_may_create=True)
    assert b.campaign(org, tenant_a.agent).created_by == tenant_a.agent
    with pytest.raises(PermissionDenied):
        b.campaign(org, tenant_a.viewer)


def test_another_organizations_template_is_refused(tenant_a, tenant_b):
    other = b.approved_template(tenant_b.org, cf.channel(tenant_b.org))
    with pytest.raises(ValidationError) as refused:
        b.campaign(tenant_a.org, tenant_a.admin, template=other)
    assert "template" in refused.value.message_dict


def test_start_returns_at_once_and_the_first_dispatch_freezes_the_audience(tenant_a, graph):
    """Pressing "Start" costs the same few queries for 3 contacts or 40: the worker lists the audience."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    org = tenant_a.org
    small, large = b.campaign(org, tenant_a.admin), b.campaign(org, tenant_a.admin)
    people = [b.consenting_contact(org, name=f"Pessoa {n}") for n in range(40)]
    small.audience_type = large.audience_type = AudienceType.LIST
    small.save(update_fields=["audience_type"])
    large.save(update_fields=["audience_type"])
    small.audience_contacts.set(people[:3])
    large.audience_contacts.set(people)
    counts = []
    for campaign in (small, large):
        with CaptureQueriesContext(connection) as queries:
            services.campaign_start(campaign=campaign, by=tenant_a.admin)
        counts.append(len(queries))
        assert not CampaignRecipient.objects.filter(campaign=campaign).exists()
    assert counts[0] == counts[1]

    started_at = Campaign.objects.get(pk=large.pk).started_at
    late = b.consenting_contact(org, name="Late")
    large.audience_contacts.add(late)  # before the worker lists the audience: it is in it
    result = services.campaign_dispatch(campaign_id=large.pk)
    large.refresh_from_db()
    assert result.handed_over == 41 and large.audience_frozen_at >= started_at and large.waiting_for == ""
    assert set(b.statuses(large)) == {p.pk for p in people} | {late.pk}
