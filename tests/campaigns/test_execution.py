"""Execution on the outbox: throttle, the number's tier across campaigns, the send window over DST,
pause/resume/cancel, the auto-pause on failures with its notification, replies and metrics."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conversations.campaigns import selectors, services
from conversations.campaigns.models import (
    AudienceType,
    CampaignRecipient,
    CampaignStatus,
    ExclusionReason,
    MessagingTier,
    RecipientStatus,
)
from conversations.campaigns.sending_window import window_next_open
from conversations.services import messages as message_services
from notifications.models import NotificationLog, Status
from tests.campaigns import builders as b
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


def _audience(org, n):
    return [b.consenting_contact(org, name=f"Person {i}") for i in range(n)]


def test_each_recipient_is_handed_over_once_however_often_dispatch_runs(tenant_a, graph):
    org = tenant_a.org
    people = _audience(org, 5)
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    for _n in range(4):
        services.campaign_dispatch(campaign_id=campaign.pk)
    assert NotificationLog.objects.filter(metadata__campaign_id=campaign.pk).count() == 5
    b.run_to_end(campaign)
    assert campaign.status == CampaignStatus.COMPLETED
    assert dict(graph.sent) == {p.phone.lstrip("+"): 1 for p in people}
    body = NotificationLog.objects.filter(metadata__campaign_id=campaign.pk).first().payload["message"]
    assert body["type"] == "template" and body["template"]["language"] == {"code": "pt_BR"}


def test_throttle_per_minute_and_delay_pace_the_batches(tenant_a, graph):
    org = tenant_a.org
    _audience(org, 10)
    campaign = b.campaign(org, tenant_a.admin, messages_per_minute=120, delay_seconds=0)
    start = timezone.now()
    services.campaign_start(campaign=campaign, by=tenant_a.admin, now=start)
    first = services.campaign_dispatch(campaign_id=campaign.pk, now=start)
    assert (first.handed_over, first.wake_at) == (1, start + datetime.timedelta(seconds=0.5))
    too_soon = services.campaign_dispatch(campaign_id=campaign.pk, now=start + datetime.timedelta(seconds=0.2))
    assert (too_soon.handed_over, too_soon.waiting_for) == (0, "throttle")
    # Two seconds later (a late wake-up): the slots of the last second are caught up, no more.
    late = services.campaign_dispatch(campaign_id=campaign.pk, now=start + datetime.timedelta(seconds=2))
    assert late.handed_over == 3
    # The delay between messages wins when it is slower than the per-minute rate.
    services.campaign_pause(campaign=campaign, by=tenant_a.admin)
    campaign.refresh_from_db()
    assert campaign.interval == datetime.timedelta(seconds=0.5)
    slow = b.campaign(org, tenant_a.admin, messages_per_minute=120, delay_seconds=3)
    assert slow.interval == datetime.timedelta(seconds=3)


def test_tier_limit_is_shared_by_two_campaigns_on_one_number(tenant_a, graph, settings):
    settings.CAMPAIGNS_BATCH_SIZE = 1000
    org = tenant_a.org
    channel = cf.channel(org)
    services.channel_tier_set(channel=channel, messaging_tier=MessagingTier.TIER_250)
    people = _audience(org, 300)  # distinct contacts: each is one business-initiated conversation
    now = timezone.now()
    first = b.campaign(
        org, tenant_a.admin, channel=channel, audience_type=AudienceType.LIST, audience_contacts=people[:200]
    )
    second = b.campaign(
        org,
        tenant_a.admin,
        channel=channel,
        category="utility",
        audience_type=AudienceType.LIST,
        audience_contacts=people[200:],
    )
    other_number = b.campaign(org, tenant_a.admin, audience_type=AudienceType.LIST, audience_contacts=people[:100])
    for campaign in (first, second, other_number):
        services.campaign_start(campaign=campaign, by=tenant_a.admin, now=now)
    assert services.campaign_dispatch(campaign_id=first.pk, now=now).handed_over == 200
    blocked = services.campaign_dispatch(campaign_id=second.pk, now=now)
    assert blocked.handed_over == 50  # 250 - 200 on this number in 24 h
    waiting = services.campaign_dispatch(campaign_id=second.pk, now=now)
    assert (waiting.handed_over, waiting.waiting_for) == (0, "tier")
    assert waiting.wake_at == now + datetime.timedelta(hours=24)
    # Another number has its own tier.
    assert services.campaign_dispatch(campaign_id=other_number.pk, now=now).handed_over == 100
    # A day later the window has rolled: the rest goes.
    later = services.campaign_dispatch(campaign_id=second.pk, now=now + datetime.timedelta(hours=24, seconds=1))
    assert later.handed_over == 50
    per_number = CampaignRecipient.objects.filter(
        campaign__channel=channel, enqueued_at__lte=now + datetime.timedelta(hours=1)
    )
    assert per_number.values("contact_id").distinct().count() == 250


NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def test_send_window_in_the_organizations_time_zone_across_a_dst_change():
    nine, five = datetime.time(9), datetime.time(17)
    # Saturday 7 March 2026, 18:00 EST: closed; it opens Sunday 09:00 EDT (clocks went forward at 02:00).
    saturday_evening = datetime.datetime(2026, 3, 7, 23, 0, tzinfo=datetime.UTC)
    opens = window_next_open(now=saturday_evening, start=nine, end=five, tz=NEW_YORK)
    assert opens == datetime.datetime(2026, 3, 8, 13, 0, tzinfo=datetime.UTC)  # not 14:00 UTC
    assert opens.astimezone(NEW_YORK).hour == 9
    inside = datetime.datetime(2026, 3, 8, 20, 59, tzinfo=datetime.UTC)  # 16:59 EDT
    assert window_next_open(now=inside, start=nine, end=five, tz=NEW_YORK) == inside
    # And back in November: Sunday 1 Nov 2026 09:00 EST is 14:00 UTC.
    opens = window_next_open(
        now=datetime.datetime(2026, 10, 31, 22, 0, tzinfo=datetime.UTC), start=nine, end=five, tz=NEW_YORK
    )
    assert opens == datetime.datetime(2026, 11, 1, 14, 0, tzinfo=datetime.UTC)
    # Over midnight, and a start inside the spring-forward gap.
    night = window_next_open(
        now=datetime.datetime(2026, 3, 7, 20, 0, tzinfo=datetime.UTC),
        start=datetime.time(22),
        end=datetime.time(6),
        tz=NEW_YORK,
    )
    assert night == datetime.datetime(2026, 3, 8, 3, 0, tzinfo=datetime.UTC)
    gap = window_next_open(
        now=datetime.datetime(2026, 3, 8, 5, 0, tzinfo=datetime.UTC),
        start=datetime.time(2, 30),
        end=datetime.time(4),
        tz=NEW_YORK,
    )
    assert gap.astimezone(NEW_YORK).replace(tzinfo=None) == datetime.datetime(2026, 3, 8, 3, 30)


def test_a_campaign_outside_its_window_waits_and_sends_when_it_opens(tenant_a, graph):
    org = tenant_a.org
    org.time_zone = "America/New_York"
    org.save(update_fields=["time_zone"])
    _audience(org, 3)
    campaign = b.campaign(org, tenant_a.admin, send_window_start=datetime.time(9), send_window_end=datetime.time(17))
    saturday_evening = datetime.datetime(2026, 3, 7, 23, 0, tzinfo=datetime.UTC)
    services.campaign_start(campaign=campaign, by=tenant_a.admin, now=saturday_evening)
    waiting = services.campaign_dispatch(campaign_id=campaign.pk, now=saturday_evening)
    assert (waiting.handed_over, waiting.waiting_for) == (0, "window")
    assert waiting.wake_at == datetime.datetime(2026, 3, 8, 13, 0, tzinfo=datetime.UTC)
    assert (
        CampaignRecipient.objects.filter(campaign=campaign, status=RecipientStatus.QUEUED).count() == 3
    )  # waits, not dropped
    sunday_morning = datetime.datetime(2026, 3, 8, 13, 0, 1, tzinfo=datetime.UTC)
    assert services.campaign_dispatch(campaign_id=campaign.pk, now=sunday_morning).handed_over == 3


def test_pause_stops_handing_over_and_resume_continues_without_repeats(tenant_a, graph, settings):
    settings.CAMPAIGNS_BATCH_SIZE = 4
    org = tenant_a.org
    people = _audience(org, 10)
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    assert services.campaign_dispatch(campaign_id=campaign.pk).handed_over == 4
    b.deliver_all(campaign)
    services.campaign_pause(campaign=campaign, by=tenant_a.admin)
    assert services.campaign_dispatch(campaign_id=campaign.pk).handed_over == 0
    assert sum(graph.sent.values()) == 4
    with pytest.raises(ValidationError):
        services.campaign_pause(campaign=campaign, by=tenant_a.admin)
    services.campaign_resume(campaign=campaign, by=tenant_a.admin)
    b.run_to_end(campaign)
    assert campaign.status == CampaignStatus.COMPLETED
    assert dict(graph.sent) == {p.phone.lstrip("+"): 1 for p in people}


def test_cancel_marks_the_rest_not_sent_and_stops_rows_still_in_the_outbox(tenant_a, graph, settings):
    settings.CAMPAIGNS_BATCH_SIZE = 3
    org = tenant_a.org
    _audience(org, 8)
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    services.campaign_dispatch(campaign_id=campaign.pk)  # 3 in the outbox, not yet sent
    services.campaign_cancel(campaign=campaign, by=tenant_a.admin)
    b.deliver_all(campaign)
    assert services.campaign_dispatch(campaign_id=campaign.pk).handed_over == 0
    assert sum(graph.sent.values()) == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert set(rows.values_list("status", "reason")) == {(RecipientStatus.SKIPPED, ExclusionReason.CANCELLED)}
    with pytest.raises(ValidationError):
        services.campaign_resume(campaign=campaign, by=tenant_a.admin)


def test_failures_above_the_threshold_pause_the_campaign_and_notify_owner_and_admins(tenant_a, graph, settings):
    settings.CAMPAIGNS_BATCH_SIZE = 10
    org = tenant_a.org
    people = _audience(org, 30)
    for person in people[:3]:
        graph.refuse.add(person.phone.lstrip("+"))
    services.campaign_settings_update(organization=org, agents_may_create=True)
    campaign = b.campaign(org, tenant_a.agent, failure_sample=10, failure_threshold_percent=20)
    services.campaign_start(campaign=campaign, by=tenant_a.agent)
    b.run_to_end(campaign)
    assert campaign.status == CampaignStatus.PAUSED
    assert "3 of the first 10 messages failed" in campaign.status_reason
    assert sum(graph.sent.values()) == 7  # the first batch only
    notices = NotificationLog.objects.filter(event_type="campaign_failed", organization=org)
    assert {n.user for n in notices} == {tenant_a.agent, tenant_a.admin}
    email = notices.filter(channel="email").first()
    assert campaign.name in email.subject and "3 of the first 10" in email.message
    # Resumed by a person, it does not pause (or notify) again for the same failures.
    services.campaign_resume(campaign=campaign, by=tenant_a.admin)
    b.run_to_end(campaign)
    assert campaign.status == CampaignStatus.COMPLETED
    assert notices.count() == NotificationLog.objects.filter(event_type="campaign_failed").count()
    metrics = selectors.campaign_metrics(campaign=campaign)
    assert (metrics.sent, metrics.failed) == (27, 3)
    assert metrics.failed_by_reason[0][1] == 3 and "131026" in metrics.failed_by_reason[0][0]


def test_below_the_threshold_the_campaign_completes(tenant_a, graph):
    org = tenant_a.org
    people = _audience(org, 10)
    graph.refuse.add(people[0].phone.lstrip("+"))
    campaign = b.campaign(org, tenant_a.admin, failure_sample=10, failure_threshold_percent=20)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    b.run_to_end(campaign)
    assert campaign.status == CampaignStatus.COMPLETED
    assert not NotificationLog.objects.filter(event_type="campaign_failed").exists()


def test_delivery_statuses_replies_and_opt_outs_make_the_metrics(tenant_a, graph):
    org = tenant_a.org
    people = _audience(org, 4)
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    b.run_to_end(campaign)
    rows = {r.contact_id: r for r in CampaignRecipient.objects.filter(campaign=campaign).select_related("log")}
    for person, status in zip(people[:3], ["delivered", "read", "failed"], strict=True):
        message_services.message_status_update(
            organization=org, provider_message_id=rows[person.pk].log.provider_message_id, status=status, error="131049"
        )
    # The second contact answers: the reply lands in the inbox and counts for the campaign.
    reply = message_services.inbound_message_receive(channel=campaign.channel, phone=people[1].phone, body="Quero!")
    # The fourth opts out by keyword after the message.
    message_services.inbound_message_receive(channel=campaign.channel, phone=people[3].phone, body="PARAR")
    metrics = selectors.campaign_metrics(campaign=campaign)
    assert (metrics.sent, metrics.delivered, metrics.read, metrics.failed) == (3, 2, 1, 1)
    assert metrics.replied == 2 and metrics.opted_out_after == 1
    replied = CampaignRecipient.objects.get(campaign=campaign, contact=people[1])
    assert replied.conversation_id == reply.message.conversation_id
    assert selectors.campaign_for_conversation(organization=org, conversation_id=replied.conversation_id) == campaign
    assert [r.contact_id for r in selectors.recipient_list(campaign=campaign, status="read")] == [people[1].pk]
    assert selectors.recipient_state(rows[people[2].pk]) == "sent"
    assert (
        selectors.recipient_state(selectors.recipient_list(campaign=campaign, status="failed").get()) == Status.FAILED
    )


def test_a_reply_after_72_hours_does_not_count(tenant_a, graph):
    org = tenant_a.org
    person = _audience(org, 1)[0]
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    b.run_to_end(campaign)
    CampaignRecipient.objects.filter(campaign=campaign).update(sent_at=timezone.now() - datetime.timedelta(hours=73))
    message_services.inbound_message_receive(channel=campaign.channel, phone=person.phone, body="oi")
    assert selectors.campaign_metrics(campaign=campaign).replied == 0


def test_scheduled_campaign_starts_on_the_beat_tick_when_due(tenant_a, graph):
    org = tenant_a.org
    _audience(org, 2)
    at = timezone.now() + datetime.timedelta(hours=1)
    campaign = b.campaign(org, tenant_a.admin, scheduled_at=at)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert services.campaigns_tick(now=at - datetime.timedelta(minutes=1)).started == 0
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()
    assert services.campaigns_tick(now=at).started == 1
    campaign.refresh_from_db()
    assert (campaign.status, campaign.started_at, campaign.waiting_for) == (CampaignStatus.RUNNING, at, "audience")
    assert services.campaign_freeze(campaign_id=campaign.pk) == 2
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2


def test_the_monthly_message_limit_pauses_the_campaign(tenant_a, graph):
    from accounts import limits

    org = tenant_a.org
    _audience(org, 3)
    limit = limits.limit_of(org, "messages")
    limits.usage_increment(organization=org, field="messages_sent", by=limit - 1)
    campaign = b.campaign(org, tenant_a.admin)
    services.campaign_start(campaign=campaign, by=tenant_a.admin)
    result = services.campaign_dispatch(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert (result.handed_over, campaign.status) == (0, CampaignStatus.PAUSED)
    assert campaign.status_reason
