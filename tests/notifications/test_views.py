"""Pages: preferences (HTMX saves each change, inline errors), test email, notification center, admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications import services
from notifications.models import NotificationLog, NotificationPreference, Status
from tests.notifications import factories as nf

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _form_data(pref, **overrides):
    data = {
        "email_enabled": "on",
        "websocket_enabled": "on",
        "in_app_enabled": "on",
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "07:00",
        "max_emails_per_hour": "10",
        "max_sms_per_hour": "5",
        "phone_number": "",
        "event_conversation_assigned": "on",
        "event_sla_warning": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_page_renders_with_org_defaults_and_every_event_type(tenant_a, client_for):
    nf.org_settings(tenant_a.org, max_emails_per_hour=7)
    response = client_for(tenant_a.agent).get(reverse("notifications:preferences"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'hx-post="/settings/notifications/"' in html
    assert 'name="event_sla_breached"' in html and 'name="event_test"' not in html
    assert 'value="7"' in html


def test_htmx_change_is_saved_and_returns_the_partial(tenant_a, client_for):
    client = client_for(tenant_a.agent)
    pref = services.preference_ensure(organization=tenant_a.org, user=tenant_a.agent)
    response = client.post(
        reverse("notifications:preferences"), _form_data(pref, email_enabled=None, quiet_hours_enabled="on"), **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="preferences-form"' in html and "Saved." in html
    pref.refresh_from_db()
    assert (pref.email_enabled, pref.quiet_hours_enabled, str(pref.quiet_hours_end)) == (False, True, "07:00:00")
    assert pref.event_types["conversation_closed"] is False and pref.event_types["sla_warning"] is True


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quiet_hours_start", "25:99", "Enter a valid time"),
        ("quiet_hours_end", "", "Enter a valid time"),
        ("max_emails_per_hour", "0", "Choose a number from 1 to 100."),
        ("max_sms_per_hour", "101", "Choose a number from 1 to 100."),
        ("max_emails_per_hour", "lots", "Choose a number from 1 to 100."),
        ("phone_number", "12345", "international format"),
        ("quiet_hours_end", "22:00", "different time"),
    ],
)
def test_invalid_values_show_inline_errors_and_save_nothing(tenant_a, client_for, field, value, message):
    client = client_for(tenant_a.agent)
    pref = services.preference_ensure(organization=tenant_a.org, user=tenant_a.agent)
    before = NotificationPreference.objects.values().get(pk=pref.pk)
    response = client.post(
        reverse("notifications:preferences"), _form_data(pref, email_enabled=None, **{field: value}), **HTMX
    )
    assert response.status_code == 200  # htmx swaps only 2xx: the partial carries the errors
    html = response.content.decode()
    assert message in html and 'role="alert"' in html and "Not saved" in html
    assert client.post(reverse("notifications:preferences"), _form_data(pref, **{field: value})).status_code == 400
    after = NotificationPreference.objects.values().get(pk=pref.pk)
    assert after == before


def test_non_htmx_post_redirects_after_saving(tenant_a, client_for):
    client = client_for(tenant_a.agent)
    pref = services.preference_ensure(organization=tenant_a.org, user=tenant_a.agent)
    response = client.post(reverse("notifications:preferences"), _form_data(pref, max_emails_per_hour="42"))
    assert response.status_code == 302
    pref.refresh_from_db()
    assert pref.max_emails_per_hour == 42


def test_preferences_are_per_organization(tenant_a, tenant_b, client_for):
    from accounts import services as account_services

    account_services.membership_create(organization=tenant_b.org, user=tenant_a.agent, role="agent")
    client = client_for(tenant_a.agent)
    client.post(reverse("accounts:switch"), {"organization": tenant_b.org.pk, "next": "/"})
    pref = services.preference_ensure(organization=tenant_b.org, user=tenant_a.agent)
    client.post(reverse("notifications:preferences"), _form_data(pref, max_emails_per_hour="3"), **HTMX)
    assert NotificationPreference.objects.get(organization=tenant_b.org, user=tenant_a.agent).max_emails_per_hour == 3
    assert not NotificationPreference.objects.filter(
        organization=tenant_a.org, user=tenant_a.agent, max_emails_per_hour=3
    ).exists()


def test_send_me_a_test_email_queues_a_test_notification(tenant_a, client_for):
    response = client_for(tenant_a.agent).post(reverse("notifications:send_test"), **HTMX)
    assert response.status_code == 200
    assert tenant_a.agent.email in response.content.decode()
    row = NotificationLog.objects.get(user=tenant_a.agent, event_type="test")
    assert (row.channel, row.status) == ("email", Status.PENDING)


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("notifications:preferences"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _in_app(org, user, title):
    row = services.notify(
        organization=org, event_type="custom", recipients=[user], channels=["in_app"], context={"title": title}
    )[0]
    NotificationLog.objects.filter(pk=row.pk).update(status=Status.SENT)
    return row


def test_center_lists_own_in_app_notifications_with_unread_count(tenant_a, tenant_b, client_for):
    _in_app(tenant_a.org, tenant_a.agent, "Mine one")
    _in_app(tenant_a.org, tenant_a.agent, "Mine two")
    _in_app(tenant_a.org, tenant_a.admin, "Admin's")
    _in_app(tenant_b.org, tenant_b.agent, "Other org")
    response = client_for(tenant_a.agent).get(reverse("notifications:center"))
    html = response.content.decode()
    assert "Mine one" in html and "Mine two" in html and "Admin's" not in html and "Other org" not in html
    assert response.context["unread"] == 2
    assert "data-notification-badge" in html and ">2</span>" in html


def test_mark_read_and_all_read(tenant_a, client_for):
    first = _in_app(tenant_a.org, tenant_a.agent, "One")
    _in_app(tenant_a.org, tenant_a.agent, "Two")
    client = client_for(tenant_a.agent)
    response = client.post(reverse("notifications:mark_read", args=[first.pk]), **HTMX)
    assert response.status_code == 200 and "<strong data-unread-count>1</strong>" in response.content.decode()
    response = client.post(reverse("notifications:mark_all_read"), **HTMX)
    assert "<strong data-unread-count>0</strong>" in response.content.decode()
    assert not NotificationLog.objects.filter(user=tenant_a.agent, channel="in_app", read_at__isnull=True).exists()


def test_cannot_mark_another_users_or_orgs_notification(tenant_a, tenant_b, client_for):
    others = [_in_app(tenant_a.org, tenant_a.admin, "Admin's"), _in_app(tenant_b.org, tenant_b.agent, "B's")]
    client = client_for(tenant_a.agent)
    for row in others:
        assert client.post(reverse("notifications:mark_read", args=[row.pk])).status_code == 404
    assert NotificationLog.objects.filter(pk__in=[r.pk for r in others], read_at__isnull=True).count() == 2


def test_admin_log_filters_and_resend_action(tenant_a, tenant_b, client_for, settings):
    failed = services.notify(
        organization=tenant_a.org,
        event_type="custom",
        recipients=[tenant_a.agent],
        channels=["email"],
        context={"title": "Failed one"},
    )[0]
    NotificationLog.objects.filter(pk=failed.pk).update(status=Status.FAILED, error="451 try later")
    foreign = services.notify(
        organization=tenant_b.org,
        event_type="custom",
        recipients=[tenant_b.agent],
        channels=["email"],
        context={"title": "B"},
    )[0]
    NotificationLog.objects.filter(pk=foreign.pk).update(status=Status.FAILED)
    client = client_for(tenant_a.admin)
    url = reverse("admin:notifications_notificationlog_changelist")
    for query in (
        "status__exact=failed",
        "channel__exact=email",
        "event_type__exact=custom",
        f"user__id__exact={tenant_a.agent.pk}",
        f"created_at__year={failed.created_at.year}",
    ):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 200, query
        assert [r.pk for r in response.context["cl"].result_list] == [failed.pk], query
    response = client.post(url, {"action": "resend", "_selected_action": [failed.pk, foreign.pk]})
    assert response.status_code == 302
    copy = NotificationLog.objects.get(metadata__resent_from=failed.pk)
    assert (copy.status, copy.organization_id, copy.subject) == (Status.PENDING, tenant_a.org.pk, "Failed one")
    assert not NotificationLog.objects.filter(metadata__resent_from=foreign.pk).exists()
    assert client.get(reverse("admin:notifications_notificationlog_change", args=[foreign.pk])).status_code == 404


def test_test_email_inside_quiet_hours_says_when_it_will_go(tenant_a, client_for):
    from tests.notifications.test_notify import _quiet_around_now

    start, end = _quiet_around_now("America/Sao_Paulo")
    nf.preference(tenant_a.org, tenant_a.agent, quiet_hours_enabled=True, quiet_hours_start=start, quiet_hours_end=end)
    tenant_a.agent.language = "en"
    tenant_a.agent.save(update_fields=["language"])
    response = client_for(tenant_a.agent).post(reverse("notifications:send_test"), **HTMX)
    html = response.content.decode()
    assert "deferred until" in html and end.strftime("%-I:%M") in html
