"""notify(): one row per recipient × channel, each decision recorded, in the caller's transaction."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.roles import Role
from notifications import services
from notifications.models import NotificationLog, Status
from notifications.services import Reason
from tests import factories
from tests.notifications import factories as nf

pytestmark = pytest.mark.django_db

CTX = {"contact_name": "Ana", "conversation_id": 7, "queue_name": "Support"}


def by_channel(rows):
    return {r.channel: r for r in rows}


def test_default_preferences_send_email_live_and_in_app_but_not_phone_channels(tenant_a):
    rows = services.notify(
        organization=tenant_a.org, event_type="conversation_assigned", recipients=[tenant_a.agent], context=CTX
    )
    got = by_channel(rows)
    assert set(got) == {"email", "sms", "whatsapp", "websocket", "in_app"}
    assert got["email"].status == Status.PENDING and got["email"].recipient == tenant_a.agent.email
    assert got["websocket"].recipient == f"org-{tenant_a.org.pk}.user-{tenant_a.agent.pk}"
    assert got["sms"].status == Status.SKIPPED and got["sms"].reason == Reason.CHANNEL_DISABLED
    assert "Ana" in got["email"].subject and "Ana" in got["email"].message and "<html" in got["email"].html
    assert got["email"].enqueued_at is not None
    # Live, in-app, SMS and WhatsApp get the compact text: no greeting, no email footer.
    assert got["in_app"].message.startswith(("A conversation", "Uma conversa")) and "Ana" in got["in_app"].message
    assert (
        "/settings/notifications/" in got["email"].message and "/settings/notifications/" not in got["in_app"].message
    )


def test_channel_toggle_and_phone_address(tenant_a):
    nf.preference(tenant_a.org, tenant_a.agent, email_enabled=False, sms_enabled=True, whatsapp_enabled=True)
    got = by_channel(
        services.notify(
            organization=tenant_a.org, event_type="conversation_assigned", recipients=[tenant_a.agent], context=CTX
        )
    )
    assert (got["email"].status, got["email"].reason) == (Status.SKIPPED, Reason.CHANNEL_DISABLED)
    assert (got["sms"].status, got["sms"].reason) == (Status.SKIPPED, Reason.NO_ADDRESS)
    nf.preference(tenant_a.org, tenant_a.agent, phone_number="+55 11 98765-4321")
    got = by_channel(
        services.notify(
            organization=tenant_a.org, event_type="conversation_assigned", recipients=[tenant_a.agent], context=CTX
        )
    )
    assert got["sms"].status == Status.PENDING and got["sms"].recipient == "+5511987654321"
    assert got["whatsapp"].status == Status.PENDING


def test_event_type_toggle(tenant_a):
    nf.preference(tenant_a.org, tenant_a.agent, event_types={"conversation_closed": False})
    rows = services.notify(
        organization=tenant_a.org, event_type="conversation_closed", recipients=[tenant_a.agent], context=CTX
    )
    assert {(r.status, r.reason) for r in rows} == {(Status.SKIPPED, Reason.EVENT_DISABLED)}
    rows = services.notify(
        organization=tenant_a.org, event_type="conversation_assigned", recipients=[tenant_a.agent], context=CTX
    )
    assert by_channel(rows)["email"].status == Status.PENDING


def test_role_policy_limits_channels(tenant_a):
    nf.org_settings(tenant_a.org, role_channels={"org_admin": ["email", "in_app"], "agent": ["in_app"], "viewer": []})
    rows = services.notify(
        organization=tenant_a.org,
        event_type="conversation_closed",
        recipients=[tenant_a.agent, tenant_a.viewer, tenant_a.admin],
        context=CTX,
    )
    decided = {(r.user_id, r.channel): (r.status, r.reason) for r in rows}
    assert decided[(tenant_a.agent.pk, "email")] == (Status.SKIPPED, Reason.ROLE_NOT_ALLOWED)
    assert decided[(tenant_a.agent.pk, "in_app")] == (Status.PENDING, "")
    assert decided[(tenant_a.viewer.pk, "in_app")] == (Status.SKIPPED, Reason.ROLE_NOT_ALLOWED)
    assert decided[(tenant_a.admin.pk, "email")] == (Status.PENDING, "")
    assert decided[(tenant_a.admin.pk, "websocket")] == (Status.SKIPPED, Reason.ROLE_NOT_ALLOWED)


def test_non_member_gets_a_not_sent_row(tenant_a, tenant_b):
    rows = services.notify(
        organization=tenant_a.org, event_type="custom", recipients=[tenant_b.agent], context={"title": "x"}
    )
    assert {r.reason for r in rows} == {Reason.NOT_MEMBER}
    assert {r.organization_id for r in rows} == {tenant_a.org.pk}


def _quiet_around_now(tz_name: str, minutes_before=60, minutes_after=60):
    local = timezone.now().astimezone(zoneinfo.ZoneInfo(tz_name))
    start = (local - datetime.timedelta(minutes=minutes_before)).time().replace(second=0, microsecond=0)
    end = (local + datetime.timedelta(minutes=minutes_after)).time().replace(second=0, microsecond=0)
    return start, end


def test_quiet_hours_in_the_users_time_zone_defer_then_release(tenant_a):
    user = tenant_a.agent
    user.time_zone = "Asia/Tokyo"  # the org is in São Paulo; the user's own zone wins
    user.save(update_fields=["time_zone"])
    start, end = _quiet_around_now("Asia/Tokyo")
    nf.preference(tenant_a.org, user, quiet_hours_enabled=True, quiet_hours_start=start, quiet_hours_end=end)
    got = by_channel(
        services.notify(organization=tenant_a.org, event_type="conversation_assigned", recipients=[user], context=CTX)
    )
    email = got["email"]
    assert (email.status, email.reason) == (Status.DEFERRED, Reason.QUIET_HOURS)
    assert email.enqueued_at is None
    delta = email.scheduled_at - timezone.now()
    assert datetime.timedelta(minutes=58) < delta < datetime.timedelta(minutes=61)
    assert email.scheduled_at.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")).time() == end
    # Live and in-app channels do not interrupt: they go now.
    assert got["in_app"].status == Status.PENDING

    # A relay run before the end leaves it; after the end it is released and queued.
    assert services.notification_relay(now=email.scheduled_at - datetime.timedelta(seconds=1)).released == 0
    result = services.notification_relay(now=email.scheduled_at + datetime.timedelta(seconds=1))
    assert result.released == 1
    email.refresh_from_db()
    assert email.status == Status.PENDING and email.enqueued_at is not None


def test_outside_quiet_hours_sends_now_and_the_org_zone_is_the_fallback(tenant_a):
    start, end = _quiet_around_now("UTC")  # quiet "now" in UTC, but the user is in São Paulo (UTC-3)
    nf.preference(
        tenant_a.org,
        tenant_a.agent,
        quiet_hours_enabled=True,
        quiet_hours_start=start,
        quiet_hours_end=(
            datetime.datetime.combine(datetime.date.today(), start) + datetime.timedelta(minutes=90)
        ).time(),
    )
    got = by_channel(
        services.notify(
            organization=tenant_a.org, event_type="conversation_assigned", recipients=[tenant_a.agent], context=CTX
        )
    )
    assert got["email"].status == Status.PENDING


def test_quiet_hours_over_midnight_in_user_zone(tenant_a):
    # A window from 1 h before now until 1 h after now, expressed so that it crosses midnight locally.
    tz = "Pacific/Kiritimati"
    local = timezone.now().astimezone(zoneinfo.ZoneInfo(tz))
    user = tenant_a.agent
    user.time_zone = tz
    user.save(update_fields=["time_zone"])
    start = (
        (local + datetime.timedelta(hours=2)).time().replace(second=0, microsecond=0)
    )  # window [now+2h, now+1h) wraps over midnight
    end = (local + datetime.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    nf.preference(tenant_a.org, user, quiet_hours_enabled=True, quiet_hours_start=start, quiet_hours_end=end)
    email = by_channel(
        services.notify(organization=tenant_a.org, event_type="conversation_assigned", recipients=[user], context=CTX)
    )["email"]
    assert email.status == Status.DEFERRED
    assert datetime.timedelta(minutes=58) < email.scheduled_at - timezone.now() < datetime.timedelta(minutes=61)


def test_urgent_bypasses_quiet_hours_only_when_the_org_allows(tenant_a):
    start, end = _quiet_around_now("America/Sao_Paulo")
    nf.preference(tenant_a.org, tenant_a.agent, quiet_hours_enabled=True, quiet_hours_start=start, quiet_hours_end=end)
    email = by_channel(
        services.notify(
            organization=tenant_a.org, event_type="sla_breached", recipients=[tenant_a.agent], context=CTX, urgent=True
        )
    )["email"]
    assert email.status == Status.PENDING and email.urgent
    nf.org_settings(tenant_a.org, urgent_bypasses_quiet_hours=False)
    email = by_channel(
        services.notify(
            organization=tenant_a.org, event_type="sla_breached", recipients=[tenant_a.agent], context=CTX, urgent=True
        )
    )["email"]
    assert email.status == Status.DEFERRED
    # Not urgent-capable: the flag is ignored.
    nf.org_settings(tenant_a.org, urgent_bypasses_quiet_hours=True)
    email = by_channel(
        services.notify(
            organization=tenant_a.org,
            event_type="conversation_assigned",
            recipients=[tenant_a.agent],
            context=CTX,
            urgent=True,
        )
    )["email"]
    assert email.status == Status.DEFERRED and not email.urgent


def test_hourly_email_limit_defers_the_excess_and_release_respects_it(tenant_a):
    nf.preference(tenant_a.org, tenant_a.agent, max_emails_per_hour=2)
    emails = []
    for _ in range(4):
        emails.append(
            services.notify(
                organization=tenant_a.org,
                event_type="custom",
                recipients=[tenant_a.agent],
                channels=["email"],
                context={"title": "t"},
            )[0]
        )
    assert [e.status for e in emails] == [Status.PENDING, Status.PENDING, Status.DEFERRED, Status.DEFERRED]
    assert {e.reason for e in emails[2:]} == {Reason.USER_RATE_LIMIT}
    first_sendable = emails[0].scheduled_at + datetime.timedelta(hours=1)
    assert abs(emails[2].scheduled_at - first_sendable) < datetime.timedelta(seconds=1)
    # One hour later both earlier emails aged out: both deferred ones go (2 per hour).
    result = services.notification_relay(now=emails[3].scheduled_at + datetime.timedelta(seconds=1))
    assert result.released == 2


def test_release_re_decides_so_a_deferred_burst_keeps_the_limit(tenant_a):
    nf.preference(tenant_a.org, tenant_a.agent, max_emails_per_hour=1)
    rows = [
        services.notify(
            organization=tenant_a.org,
            event_type="custom",
            recipients=[tenant_a.agent],
            channels=["email"],
            context={"title": "t"},
        )[0]
        for _ in range(3)
    ]
    assert [r.status for r in rows] == [Status.PENDING, Status.DEFERRED, Status.DEFERRED]
    later = max(r.scheduled_at for r in rows) + datetime.timedelta(seconds=1)
    result = services.notification_relay(now=later)
    assert (result.released, result.redeferred) == (1, 1)


def test_sms_and_whatsapp_share_the_sms_limit(tenant_a):
    nf.preference(
        tenant_a.org,
        tenant_a.agent,
        sms_enabled=True,
        whatsapp_enabled=True,
        phone_number="+5511987654321",
        max_sms_per_hour=1,
    )
    got = by_channel(
        services.notify(
            organization=tenant_a.org,
            event_type="custom",
            recipients=[tenant_a.agent],
            channels=["sms", "whatsapp"],
            context={"title": "t"},
        )
    )
    assert got["sms"].status == Status.PENDING
    assert (got["whatsapp"].status, got["whatsapp"].reason) == (Status.DEFERRED, Reason.USER_RATE_LIMIT)


def test_organization_email_limit(tenant_a):
    nf.org_settings(tenant_a.org, email_rate_limit_per_hour=2)
    users = [factories.member(tenant_a.org).user for _ in range(3)]
    rows = services.notify(
        organization=tenant_a.org, event_type="custom", recipients=users, channels=["email"], context={"title": "t"}
    )
    assert [r.status for r in rows] == [Status.PENDING, Status.PENDING, Status.DEFERRED]
    assert rows[2].reason == Reason.ORG_RATE_LIMIT


def test_org_batch_size_caps_emails_released_per_run(tenant_a):
    nf.org_settings(tenant_a.org, email_batch_size=2)
    users = [factories.member(tenant_a.org).user for _ in range(5)]
    for u in users:
        start, end = _quiet_around_now("America/Sao_Paulo")
        nf.preference(tenant_a.org, u, quiet_hours_enabled=True, quiet_hours_start=start, quiet_hours_end=end)
    rows = services.notify(
        organization=tenant_a.org, event_type="custom", recipients=users, channels=["email"], context={"title": "t"}
    )
    assert {r.status for r in rows} == {Status.DEFERRED}
    later = rows[0].scheduled_at + datetime.timedelta(seconds=5)
    assert services.notification_relay(now=later).released == 2
    assert services.notification_relay(now=later).released == 2
    assert services.notification_relay(now=later).released == 1


def test_user_in_two_organizations_gets_each_under_that_orgs_preferences(tenant_a, tenant_b):
    shared = tenant_a.agent
    account_services.membership_create(organization=tenant_b.org, user=shared, role=Role.AGENT)
    nf.preference(tenant_a.org, shared, email_enabled=False)
    nf.preference(tenant_b.org, shared, email_enabled=True, in_app_enabled=False)
    a = by_channel(
        services.notify(organization=tenant_a.org, event_type="custom", recipients=[shared], context={"title": "A"})
    )
    b = by_channel(
        services.notify(organization=tenant_b.org, event_type="custom", recipients=[shared], context={"title": "B"})
    )
    assert a["email"].status == Status.SKIPPED and a["in_app"].status == Status.PENDING
    assert b["email"].status == Status.PENDING and b["in_app"].status == Status.SKIPPED
    assert a["websocket"].recipient == f"org-{tenant_a.org.pk}.user-{shared.pk}"
    assert b["websocket"].recipient == f"org-{tenant_b.org.pk}.user-{shared.pk}"
    assert {r.organization_id for r in a.values()} == {tenant_a.org.pk}
    # Each organization's log only holds its own rows.
    assert set(NotificationLog.objects.for_organization(tenant_b.org).values_list("subject", flat=True)) == {"B"}


def test_new_member_starts_from_org_defaults(tenant_a):
    nf.org_settings(tenant_a.org, email_enabled=False, max_emails_per_hour=3, event_types={"new_contact": False})
    user = factories.member(tenant_a.org).user
    pref = services.preference_ensure(organization=tenant_a.org, user=user)
    assert (pref.email_enabled, pref.max_emails_per_hour, pref.event_types) == (False, 3, {"new_contact": False})


def test_dedupe_key_makes_notify_idempotent(tenant_a):
    first = services.notify(
        organization=tenant_a.org,
        event_type="sla_warning",
        recipients=[tenant_a.agent],
        context=CTX,
        dedupe_key="conv-7:first_response",
    )
    again = services.notify(
        organization=tenant_a.org,
        event_type="sla_warning",
        recipients=[tenant_a.agent],
        context=CTX,
        dedupe_key="conv-7:first_response",
    )
    assert [r.pk for r in first] == [r.pk for r in again]
    assert NotificationLog.objects.count() == len(first)


def test_rows_are_part_of_the_callers_transaction(tenant_a):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            services.notify(
                organization=tenant_a.org, event_type="custom", recipients=[tenant_a.agent], context={"title": "x"}
            )
            raise RuntimeError("the action failed")
    assert not NotificationLog.objects.exists()


def test_delivery_tasks_are_sent_only_on_commit(tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.notify(
            organization=tenant_a.org, event_type="custom", recipients=[tenant_a.agent], context={"title": "x"}
        )
    assert len(callbacks) == 1


def test_unknown_event_type_or_channel_is_a_clear_error(tenant_a):
    with pytest.raises(ValueError, match="unknown notification event type"):
        services.notify(organization=tenant_a.org, event_type="nope", recipients=[tenant_a.agent], context={})
    with pytest.raises(ValueError, match="unknown channel"):
        services.notify(
            organization=tenant_a.org, event_type="custom", recipients=[tenant_a.agent], channels=["fax"], context={}
        )


def test_rendered_in_the_recipients_language(tenant_a):
    tenant_a.agent.language = "pt-br"
    tenant_a.agent.save(update_fields=["language"])
    tenant_a.admin.language = "en"
    tenant_a.admin.save(update_fields=["language"])
    rows = services.notify(
        organization=tenant_a.org,
        event_type="test",
        recipients=[tenant_a.agent, tenant_a.admin],
        channels=["email"],
        context={},
    )
    subjects = {r.user_id: r.subject for r in rows}
    assert subjects[tenant_a.admin.pk] == "[TEST] PyTake test notification"
    assert subjects[tenant_a.agent.pk] == "[TESTE] Notificação de teste do PyTake"


@pytest.mark.parametrize("count", [1, 50])
def test_queries_per_notify_do_not_grow_with_recipients(django_assert_num_queries, count):
    org = factories.organization(plan="enterprise")
    users = [factories.member(org).user for _ in range(count)]
    nf.org_settings(org)
    nf.preference(org, users[0], email_enabled=False)
    # savepoint, dedupe check, settings, roles, preferences, two limit windows, insert, release
    with django_assert_num_queries(9):
        rows = services.notify(organization=org, event_type="conversation_assigned", recipients=users, context=CTX)
    assert len(rows) == count * 5


def test_release_across_a_dst_change_re_defers_to_the_local_end_of_the_window(tenant_a):
    user = tenant_a.agent
    user.time_zone = "America/New_York"
    user.save(update_fields=["time_zone"])
    start, end = _quiet_around_now("America/New_York")
    pref = nf.preference(tenant_a.org, user, quiet_hours_enabled=True, quiet_hours_start=start, quiet_hours_end=end)
    email = by_channel(
        services.notify(organization=tenant_a.org, event_type="conversation_assigned", recipients=[user], context=CTX)
    )["email"]
    assert email.status == Status.DEFERRED
    services.preference_update(preference=pref, quiet_hours_start=datetime.time(22), quiet_hours_end=datetime.time(8))
    # The relay runs on the night New York springs forward (2027-03-14 02:00): 08:00 local is 12:00 UTC, not 13:00.
    night = datetime.datetime(2027, 3, 13, 23, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    result = services.notification_relay(now=night)
    assert (result.released, result.redeferred) == (0, 1)
    email.refresh_from_db()
    assert email.scheduled_at == datetime.datetime(2027, 3, 14, 12, 0, tzinfo=datetime.UTC)
    assert services.notification_relay(now=email.scheduled_at).released == 1
