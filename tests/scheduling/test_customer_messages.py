"""What the customer receives: the email with its .ics, calendar links, the signed manage link."""

from __future__ import annotations

import datetime
import time
from urllib.parse import parse_qs, urlsplit

import icalendar
import pytest
from django.core import signing

from notifications import services as outbox
from scheduling import ics, links, services
from tests import factories as base
from tests.scheduling import factories

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


@pytest.fixture
def org():
    organization = base.organization(name="Clínica Sol", time_zone="America/Sao_Paulo", locale="pt-br")
    factories.settings(organization, minimum_notice_minutes=0)
    return organization


@pytest.fixture
def appointment(org):
    prov = factories.provider(org, full_name="Dra. Ana")
    svc = factories.service(org, name="Consulta", duration=45, providers=[prov])
    return factories.appointment(
        org,
        svc=svc,
        prov=prov,
        start=factories.at(org, factories.future_day(7), 10),
        email="maria@example.com",
        name="Maria",
    )


def test_ics_content(appointment):
    calendar = icalendar.Calendar.from_ical(ics.appointment_ics(appointment, manage_url="https://x.test/m"))
    assert calendar["METHOD"] == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"{appointment.public_id}@pytake"
    assert event.decoded("DTSTART") == appointment.start
    assert event.decoded("DTSTART").utcoffset() == datetime.timedelta(0)
    assert event["DTSTART"].to_ical().decode().endswith("Z")
    assert event.decoded("DTEND") - event.decoded("DTSTART") == datetime.timedelta(minutes=45)
    assert str(event["SUMMARY"]) == "Consulta · Clínica Sol"
    assert str(event["LOCATION"]) == "Clínica Sol"
    assert "mailto:maria@example.com" in str(event["ATTENDEE"])
    assert str(event["URL"]) == "https://x.test/m"
    again = icalendar.Calendar.from_ical(ics.appointment_ics(appointment))
    assert str(again.walk("VEVENT")[0]["UID"]) == str(event["UID"])  # stable
    cancelled = icalendar.Calendar.from_ical(ics.appointment_ics(appointment, cancelled=True))
    assert cancelled["METHOD"] == "CANCEL" and cancelled.walk("VEVENT")[0]["STATUS"] == "CANCELLED"


def test_google_and_outlook_links(appointment):
    google = urlsplit(ics.google_calendar_url(appointment))
    assert google.netloc == "calendar.google.com" and google.path == "/calendar/render"
    query = parse_qs(google.query)
    start = appointment.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    end = appointment.end.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert (
        query["action"] == ["TEMPLATE"]
        and query["dates"] == [f"{start}/{end}"]
        and query["text"] == ["Consulta · Clínica Sol"]
    )
    outlook = urlsplit(ics.outlook_calendar_url(appointment))
    assert outlook.netloc == "outlook.live.com" and outlook.path == "/calendar/0/deeplink/compose"
    query = parse_qs(outlook.query)
    assert query["startdt"] == [appointment.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert query["subject"] == ["Consulta · Clínica Sol"]


def test_confirmation_email_is_sent_once_over_smtp_with_the_ics(
    appointment, mailbox, eager_celery, django_capture_on_commit_callbacks
):
    row = factories.customer_row(appointment, "booked")
    outbox.notification_deliver(log_id=row.pk)
    outbox.notification_deliver(log_id=row.pk)  # a redelivered task finds nothing to claim
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == "maria@example.com"
    assert "Consulta" in message["Subject"] and "Agendamento recebido" in message["Subject"]  # organization's language
    parts = {part.get_content_type(): part for part in message.walk()}
    assert "text/html" in parts and "text/plain" in parts
    calendar_part = parts["text/calendar"]
    assert calendar_part.get_filename() == "appointment.ics"
    event = icalendar.Calendar.from_ical(calendar_part.get_content()).walk("VEVENT")[0]
    assert str(event["UID"]) == f"{appointment.public_id}@pytake"
    text = parts["text/plain"].get_content()
    assert "calendar.google.com" in text and "outlook.live.com" in text
    assert links.manage_path(appointment).split("/manage/")[0] in text
    assert message["Message-ID"] == row.message_id_header
    row.refresh_from_db()
    assert (row.status, row.retry_count) == ("sent", 0) and row.sent_at


def test_a_failing_smtp_server_is_retried_then_recorded(appointment, settings):
    from tests.smtp import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    row = factories.customer_row(appointment, "booked")
    # The outbox's one retry policy: 5 s, 25 s, 125 s (× the base), then failed with the error.
    assert outbox.notification_deliver(log_id=row.pk).retry_in == outbox.retry_delay(1)
    row.refresh_from_db()
    assert row.status == "pending" and "Error" in row.error
    outbox.notification_deliver(log_id=row.pk)
    outbox.notification_deliver(log_id=row.pk)
    assert outbox.notification_deliver(log_id=row.pk).status == "failed"
    row.refresh_from_db()
    assert (row.status, row.retry_count) == ("failed", 3) and "Error" in row.error


def test_cancellation_email_carries_a_cancel_ics(appointment, mailbox):
    services.appointment_cancel(appointment=appointment, reason="Imprevisto")
    row = factories.customer_row(appointment, "cancelled")
    outbox.notification_deliver(log_id=row.pk)
    message = mailbox.messages[-1]
    calendar_part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert icalendar.Calendar.from_ical(calendar_part.get_content())["METHOD"] == "CANCEL"
    assert "Imprevisto" in next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()


def test_manage_link_round_trip_tampering_and_expiry(appointment, org, tenant_b):
    token = links.manage_token(appointment)
    assert links.appointment_from_token(organization=org, token=token, max_age_days=90) == appointment
    with pytest.raises(links.LinkInvalid):
        links.appointment_from_token(
            organization=org, token=token[:-2] + ("aa" if token[-2:] != "aa" else "bb"), max_age_days=90
        )
    with pytest.raises(links.LinkInvalid):
        links.appointment_from_token(organization=tenant_b.org, token=token, max_age_days=90)  # another tenant
    with pytest.raises(links.LinkInvalid):
        links.appointment_from_token(
            organization=org,
            token=signing.TimestampSigner(salt="other").sign(str(appointment.public_id)),
            max_age_days=90,
        )

    class SignedLongAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 91 * 86400)

    old = SignedLongAgo(salt=links.SALT).sign(str(appointment.public_id))
    with pytest.raises(links.LinkExpired):
        links.appointment_from_token(organization=org, token=old, max_age_days=90)
    assert links.appointment_from_token(organization=org, token=old, max_age_days=100) == appointment

    moved = services.appointment_reschedule(
        appointment=appointment, start=appointment.start + datetime.timedelta(days=1)
    )
    assert (
        links.appointment_from_token(organization=org, token=token, max_age_days=90) == moved
    )  # follows the reschedule


def test_relay_sends_rows_whose_task_was_lost_and_recovers_dead_sends(
    appointment, mailbox, eager_celery, django_capture_on_commit_callbacks
):
    """Customer emails are outbox rows: the outbox's one relay re-queues them and recovers dead sends."""
    from notifications.models import NotificationLog

    row = factories.customer_row(appointment, "booked")
    now = datetime.datetime.now(UTC)
    assert outbox.notification_relay(now=now, relay_after=3600).requeued == 0  # too young: its task may still run
    NotificationLog.objects.filter(pk=row.pk).update(enqueued_at=now - datetime.timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.notification_relay(now=now, relay_after=120).requeued == 1
    row.refresh_from_db()
    assert row.status == "sent" and len(mailbox.messages) == 1
    # A sender that died mid-send leaves "sending" with a lease nobody renews: the relay sends it again.
    NotificationLog.objects.filter(pk=row.pk).update(
        status="sending",
        claimed_at=now - datetime.timedelta(minutes=2),
        lease_until=now - datetime.timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.notification_relay(now=now).reclaimed == 1
    row.refresh_from_db()
    assert row.status == "sent" and len(mailbox.messages) == 2 and row.retry_count == 1
    assert outbox.notification_relay(now=now, relay_after=120).requeued == 0
