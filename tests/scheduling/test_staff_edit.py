"""Staff reschedule and annotate appointments from the calendar's appointment page (the same service,
rules and exclusion constraint as the public flow); client metrics stay current with a daily job."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.models import Appointment, AppointmentStatus, ClientMetrics
from tests.scheduling import factories
from tests.scheduling.test_calendar import setup  # noqa: F401

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _local(org, moment: datetime.datetime) -> str:
    return moment.astimezone(org.tzinfo).strftime("%Y-%m-%dT%H:%M")


def test_an_agent_reschedules_their_appointment(setup, client_for, tenant_a):  # noqa: F811
    org, mine = setup["org"], setup["mine"]
    new_start = mine.start + datetime.timedelta(hours=3)
    response = client_for(tenant_a.agent).post(
        f"/calendar/appointments/{mine.pk}/reschedule/", {"start": _local(org, new_start)}, **HTMX
    )
    assert response.status_code == 200 and "Appointment rescheduled." in response.content.decode()
    moved = Appointment.objects.get(rescheduled_from=mine)
    assert moved.start == new_start and moved.provider_id == tenant_a.agent.pk
    mine.refresh_from_db()
    assert mine.status == AppointmentStatus.CANCELLED


def test_a_taken_slot_is_refused_by_the_constraint_with_a_clear_message(setup, client_for, tenant_a):  # noqa: F811
    org, mine, theirs = setup["org"], setup["mine"], setup["theirs"]
    # The admin moves the agent's appointment onto their own booked hour.
    response = client_for(tenant_a.admin).post(
        f"/calendar/appointments/{mine.pk}/reschedule/",
        {"start": _local(org, theirs.start), "provider": setup["admin"].pk},
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' in body
    mine.refresh_from_db()
    assert mine.status != AppointmentStatus.CANCELLED  # everything rolled back
    assert not Appointment.objects.filter(rescheduled_from=mine).exists()


def test_bad_input_and_other_providers(setup, client_for, tenant_a, tenant_b):  # noqa: F811
    mine = setup["mine"]
    client = client_for(tenant_a.agent)
    response = client.post(f"/calendar/appointments/{mine.pk}/reschedule/", {"start": "tomorrow-ish"}, **HTMX)
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    # An agent may not hand their appointment to someone else.
    response = client.post(
        f"/calendar/appointments/{mine.pk}/reschedule/",
        {"start": _local(setup["org"], mine.start + datetime.timedelta(hours=2)), "provider": setup["admin"].pk},
        **HTMX,
    )
    assert "Only org admins" in response.content.decode()
    # Another organization's staff never reach it; viewers cannot act.
    assert (
        client_for(tenant_b.admin).post(f"/calendar/appointments/{mine.pk}/notes/", {"internal_notes": "x"}).status_code
        == 404
    )
    assert (
        client_for(tenant_a.viewer)
        .post(f"/calendar/appointments/{mine.pk}/notes/", {"internal_notes": "x"})
        .status_code
        == 403
    )
    mine.refresh_from_db()
    assert mine.internal_notes == ""


def test_internal_notes_on_the_appointment_page(setup, client_for, tenant_a):  # noqa: F811
    mine = setup["mine"]
    client = client_for(tenant_a.agent)
    response = client.post(
        f"/calendar/appointments/{mine.pk}/notes/", {"internal_notes": "Prefers the window seat."}, **HTMX
    )
    assert "Internal notes saved." in response.content.decode()
    mine.refresh_from_db()
    assert mine.internal_notes == "Prefers the window seat."
    page = client.get(f"/calendar/appointments/{mine.pk}/").content.decode()
    assert "Prefers the window seat." in page and 'name="internal_notes"' in page


def test_the_daily_job_keeps_time_dependent_metrics_current(tenant_a):
    org = tenant_a.org
    appointment = factories.appointment(org, start=factories.at(org, factories.future_day(2), 10))
    metrics = ClientMetrics.objects.get(contact=appointment.contact)
    assert metrics.upcoming_appointments == 1
    later = timezone.now() + datetime.timedelta(days=5)  # the appointment is in the past by then
    assert services.client_metrics_refresh_stale(now=later) == 1
    metrics.refresh_from_db()
    assert metrics.upcoming_appointments == 0
    # Fresh ones are left alone: the next run refreshes nothing.
    assert services.client_metrics_refresh_stale(now=timezone.now()) == 0


@pytest.mark.parametrize(
    "currency,language,shown",
    [("BRL", "pt-br", "R$\xa0100,00"), ("EUR", "en", "€100.00"), ("EUR", "pt-br", "€\xa0100,00")],
)
def test_prices_carry_the_organizations_currency_per_locale(setup, client_for, tenant_a, currency, language, shown):  # noqa: F811
    org = setup["org"]
    org.currency = currency
    org.save(update_fields=["currency"])
    tenant_a.agent.language = language
    tenant_a.agent.save(update_fields=["language"])
    client = client_for(tenant_a.agent)
    client.cookies["django_language"] = language
    page = client.get(f"/calendar/appointments/{setup['mine'].pk}/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert shown in page


def test_an_unknown_currency_is_refused(tenant_a):
    from django.core.exceptions import ValidationError

    tenant_a.org.currency = "XYZ"
    with pytest.raises(ValidationError, match="ISO 4217"):
        tenant_a.org.full_clean()
