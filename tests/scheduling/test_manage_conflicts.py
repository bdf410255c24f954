"""The manage link's 409s show the appointment as it is after the race, with a message that matches it.

Each test makes the race real: another connection changes the appointment and holds its row lock
until the customer's request is seen waiting for that lock in ``pg_stat_activity``, then commits.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.urls import reverse

from scheduling import links, services
from scheduling.models import Appointment, AppointmentStatus
from tests import factories as base
from tests.scheduling import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def appointment():
    org = base.organization(name="Barbearia Zé", slug="barbearia-ze", time_zone="America/Sao_Paulo")
    factories.settings(org, minimum_notice_minutes=60, booking_horizon_days=60, slot_interval_minutes=30)
    prov = factories.provider(org, full_name="Zé")
    svc = factories.service(org, name="Corte", duration=30, providers=[prov])
    day = factories.future_day(5)
    return factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 10))


def _someone_waits_for_a_lock(deadline: float) -> bool:
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
    return False


def _change_first(change) -> tuple[threading.Thread, threading.Event, list]:
    """Run ``change`` in another connection; it commits once a second transaction waits for its lock."""
    locked, problems = threading.Event(), []

    def run():
        try:
            with transaction.atomic():
                change()
                locked.set()
                if not _someone_waits_for_a_lock(time.monotonic() + 20):
                    problems.append("the customer's request never waited for the lock")
        except BaseException as error:
            problems.append(error)
            locked.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert locked.wait(20)
    return thread, locked, problems


def test_a_cancel_that_lost_the_race_shows_the_cancelled_appointment(client, appointment):
    token = links.manage_token(appointment)
    thread, _locked, problems = _change_first(
        lambda: services.appointment_cancel(appointment=appointment, reason="staff", by=None)
    )
    response = client.post(reverse("scheduling:manage_cancel", args=[appointment.organization.slug, token]))
    thread.join(30)
    assert not problems, problems
    page = response.content.decode()
    assert response.status_code == 409
    assert "This appointment was already cancelled; nothing else was changed." in page
    assert "Cancel appointment" not in page and "Book another time" in page  # the page as it is now


def test_a_double_submitted_reschedule_shows_where_it_went(client, appointment):
    org = appointment.organization
    token = links.manage_token(appointment)
    new_start = factories.at(org, appointment.start.astimezone(org.tzinfo).date(), 15)
    thread, _locked, problems = _change_first(
        lambda: services.appointment_reschedule(appointment=appointment, start=new_start, by_customer=True)
    )
    response = client.post(
        reverse("scheduling:manage_reschedule", args=[org.slug, token]), {"start": new_start.isoformat()}
    )
    thread.join(30)
    assert not problems, problems
    page = response.content.decode()
    assert response.status_code == 409
    assert "This appointment was already moved to " + new_start.strftime("%A") in page
    assert "15:00; nothing else was changed." in page
    assert "Cancel appointment" in page  # the moved appointment can still be changed
    moved = Appointment.objects.get(rescheduled_from=appointment)
    assert moved.start == new_start and moved.status == AppointmentStatus.PENDING
    assert Appointment.objects.filter(organization=org).count() == 2  # the second submit changed nothing
