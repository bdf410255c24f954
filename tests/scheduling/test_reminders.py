"""Reminders: due at the organization's offsets, each sent exactly once, even by overlapping runs."""

from __future__ import annotations

import datetime
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from notifications.models import NotificationLog
from scheduling import services
from scheduling.models import ReminderOccurrence
from tests import factories as base
from tests.scheduling import factories

UTC = datetime.UTC


def _setup(n=1, offsets=(1440, 60)):
    org = base.organization(time_zone="America/Sao_Paulo")
    factories.settings(org, minimum_notice_minutes=0, reminder_offsets_minutes=list(offsets))
    prov = factories.provider(org, windows=[(datetime.time(0), datetime.time(23, 30))])
    svc = factories.service(org, duration=30, providers=[prov])
    day = factories.future_day(5)
    appointments = [
        factories.appointment(
            org,
            svc=svc,
            prov=prov,
            start=factories.at(org, day, 8) + datetime.timedelta(minutes=30 * i),
            email=f"c{i}@example.com",
        )
        for i in range(n)
    ]
    return org, prov, appointments


@pytest.mark.django_db
def test_each_offset_is_sent_once_at_its_time():
    org, prov, (appointment,) = _setup()
    start = appointment.start
    assert services.reminders_send_due(now=start - datetime.timedelta(hours=25)) == 0
    assert services.reminders_send_due(now=start - datetime.timedelta(hours=23)) == 1
    assert services.reminders_send_due(now=start - datetime.timedelta(hours=22)) == 0
    assert services.reminders_send_due(now=start - datetime.timedelta(minutes=30)) == 1
    assert services.reminders_send_due(now=start - datetime.timedelta(minutes=10)) == 0
    assert services.reminders_send_due(now=start + datetime.timedelta(minutes=1)) == 0
    keys = sorted(
        row.metadata["key"] for row in factories.customer_rows(appointment) if row.metadata["kind"] == "reminder"
    )
    assert keys == ["reminder:1440", "reminder:60"]
    assert sorted(
        ReminderOccurrence.objects.filter(appointment=appointment).values_list("offset_minutes", flat=True)
    ) == [
        60,
        1440,
    ]
    staff = NotificationLog.objects.filter(event_type="appointment_reminder", user=prov.user)
    assert {log.metadata["appointment_id"] for log in staff} == {appointment.pk}
    assert staff.values("dedupe_key").distinct().count() == staff.count()


@pytest.mark.django_db
def test_configurable_offsets_late_bookings_and_cancelled_appointments():
    org, prov, (a, b) = _setup(n=2, offsets=(180,))
    services.appointment_cancel(appointment=b)
    assert services.reminders_send_due(now=a.start - datetime.timedelta(minutes=170)) == 1
    assert not [row for row in factories.customer_rows(b) if row.metadata["kind"] == "reminder"]
    # Booked 2 hours ahead: the 24-hour reminder never comes, the 1-hour one does.
    org2, prov2, _ = _setup(n=0)
    svc = factories.service(org2, duration=30, providers=[prov2])
    start = (datetime.datetime.now(UTC) + datetime.timedelta(hours=2)).replace(second=0, microsecond=0)
    start = start.replace(minute=(start.minute // 30) * 30)
    late = factories.appointment(org2, svc=svc, prov=prov2, start=start, email="late@example.com")
    assert services.reminders_send_due() == 0
    assert services.reminders_send_due(now=late.start - datetime.timedelta(minutes=30)) == 1
    assert [row.metadata["key"] for row in factories.customer_rows(late) if row.metadata["kind"] == "reminder"] == [
        "reminder:60"
    ]


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_runs_send_each_reminder_once(mailbox, eager_celery):
    org, prov, appointments = _setup(n=12)
    now = appointments[-1].start - datetime.timedelta(hours=23)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(services.reminders_send_due(now=now))
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(results) == 12
    rows = NotificationLog.objects.filter(event_type="appointment_reminder", recipient_contact_id__isnull=False)
    assert rows.count() == 12 and set(rows.values_list("status", flat=True)) == {"sent"}
    assert ReminderOccurrence.objects.count() == 12
    customer_mail = [m for m in mailbox.messages if m["To"].startswith("c")]
    reminders = [m for m in customer_mail if "Reminder" in m["Subject"] or "Lembrete" in m["Subject"]]
    assert sorted(m["To"] for m in reminders) == sorted(f"c{i}@example.com" for i in range(12))
    # A third run, later, finds nothing new.
    assert services.reminders_send_due(now=now + datetime.timedelta(minutes=5)) == 0


@pytest.mark.django_db
def test_send_reminders_command():
    org, prov, (appointment,) = _setup()
    out = StringIO()
    call_command("send_reminders", "--now", (appointment.start - datetime.timedelta(hours=23)).isoformat(), stdout=out)
    assert "1 reminder(s) sent" in out.getvalue()
    with pytest.raises(CommandError, match="--now"):
        call_command("send_reminders", "--now", "yesterday")
    with pytest.raises(CommandError, match="--limit"):
        call_command("send_reminders", "--limit", "0")
