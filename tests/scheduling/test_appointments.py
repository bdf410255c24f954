"""Booking, the database's no-overlap guarantee, lifecycle transitions, their events and notifications."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from conversations.models import Contact
from notifications.models import NotificationLog
from scheduling import services
from scheduling.models import Appointment, AppointmentStatus, ClientMetrics
from tests import factories as base
from tests.scheduling import factories

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


@pytest.fixture
def org():
    organization = base.organization(time_zone="America/Sao_Paulo", plan="professional")
    factories.settings(organization, minimum_notice_minutes=60, booking_horizon_days=90, slot_interval_minutes=30)
    return organization


@pytest.fixture
def prov(org):
    return factories.provider(org, full_name="Dra. Ana")


@pytest.fixture
def svc(org, prov):
    return factories.service(
        org, name="Consulta", duration=60, price="150.00", providers=[prov], buffer_after_minutes=15
    )


def _move_to_past(appointment, days=2):
    """Test set-up: put an appointment in the past (bookings refuse the past)."""
    delta = datetime.timedelta(
        days=days + (appointment.start - datetime.datetime.now(UTC)).days + 1
    )  # whole days: same time of day
    Appointment.objects.filter(pk=appointment.pk).update(
        start=appointment.start - delta,
        end=appointment.end - delta,
        occupied_from=appointment.occupied_from - delta,
        occupied_until=appointment.occupied_until - delta,
    )
    appointment.refresh_from_db()
    return appointment


def test_booking_creates_the_contact_by_phone_and_reuses_it(
    org, prov, svc, recorded_events, django_capture_on_commit_callbacks
):
    day = factories.future_day(7)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.appointment_book(
            organization=org,
            service=svc,
            provider=prov,
            start=factories.at(org, day, 9),
            customer_name="João Silva",
            customer_phone="+55 11 98888-7777",
            customer_email="Joao@Example.com",
            source="public",
        )
    assert first.contact.phone == "+5511988887777"
    assert first.contact.email == "joao@example.com"
    assert (first.end - first.start) == datetime.timedelta(minutes=60)
    assert first.occupied_until == first.end + datetime.timedelta(minutes=15)
    assert first.price == Decimal("150.00")
    assert first.status == AppointmentStatus.PENDING
    second = services.appointment_book(
        organization=org,
        service=svc,
        provider=prov,
        start=factories.at(org, day, 14),
        customer_name="João",
        customer_phone="11988887777" if False else "+5511988887777",
        source="staff",
    )
    assert second.contact_id == first.contact_id
    assert Contact.objects.filter(organization=org).count() == 1
    created = [e for e in recorded_events if e.name == "appointment.created"]
    assert created[0].payload == {
        "appointment_id": first.pk,
        "provider_id": prov.user_id,
        "contact_id": first.contact_id,
    }
    assert created[0].organization_id == org.pk


def test_booking_notifies_the_provider_and_queues_the_customer_email(org, prov, svc):
    appointment = factories.appointment(org, svc=svc, prov=prov, email="cliente@example.com")
    logs = NotificationLog.objects.filter(organization=org, event_type="appointment_created", user__isnull=False)
    assert logs.exists()
    assert {log.user_id for log in logs} == {prov.user_id}
    assert all(log.metadata["appointment_id"] == appointment.pk for log in logs)
    assert "Consulta" in logs.first().subject
    (customer,) = factories.customer_rows(appointment)
    assert (customer.metadata["key"], customer.metadata["kind"], customer.recipient, customer.status) == (
        "booked",
        "confirmation",
        "cliente@example.com",
        "pending",
    )
    assert (customer.channel, customer.transport, customer.user_id) == ("email", "scheduling.email", None)
    assert customer.metadata["delivery_choice"]["channel"] == "email"


def test_customer_without_email_gets_an_auditable_skipped_row(org, prov, svc):
    appointment = factories.appointment(org, svc=svc, prov=prov, email="")
    (customer,) = factories.customer_rows(appointment)
    assert customer.status == "skipped" and customer.reason == "no_address" and customer.recipient == ""


def test_overlap_is_refused_with_a_clear_error(org, prov, svc):
    day = factories.future_day(7)
    factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 10))
    for start in (factories.at(org, day, 10), factories.at(org, day, 10, 30), factories.at(org, day, 9, 30)):
        with pytest.raises(services.SlotUnavailable) as error:
            factories.appointment(org, svc=svc, prov=prov, start=start)
        assert "no longer available" in error.value.message
    # The buffer after (15 min) keeps 11:00 busy; 11:15 is free.
    with pytest.raises(services.SlotUnavailable):
        factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 11))
    services.working_hours_set(provider=prov, weekday=day.weekday(), windows=[(datetime.time(9), datetime.time(18))])
    factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 11, 15))


def test_any_provider_books_the_free_one(org):
    first = factories.provider(org)
    second = factories.provider(org)
    svc = factories.service(org, providers=[first, second])
    start = factories.at(org, factories.future_day(7), 10)
    a = factories.appointment(org, svc=svc, prov=first, start=start)
    b = services.appointment_book(
        organization=org, service=svc, provider=None, start=start, customer_name="B", customer_phone="+5511977776666"
    )
    assert (a.provider_id, b.provider_id) == (first.user_id, second.user_id)
    with pytest.raises(services.SlotUnavailable):
        services.appointment_book(
            organization=org,
            service=svc,
            provider=None,
            start=start,
            customer_name="C",
            customer_phone="+5511966665555",
        )


def _raw_insert(appointment, start, end, *, provider_id=None, status="pending"):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO scheduling_appointment
                (organization_id, public_id, service_id, provider_id, contact_id, customer_name, customer_email, customer_phone,
                 start, "end", occupied_from, occupied_until, status, price, notes, internal_notes, source,
                 cancellation_reason, created_at, updated_at)
            VALUES (%s, gen_random_uuid(), %s, %s, %s, 'Raw', '', '+5511900000000', %s, %s, %s, %s, %s, 0, '', '', 'admin', '', now(), now())
            """,
            [
                appointment.organization_id,
                appointment.service_id,
                provider_id or appointment.provider_id,
                appointment.contact_id,
                start,
                end,
                start,
                end,
                status,
            ],
        )


def test_the_database_refuses_a_raw_overlapping_insert(org, prov, svc):
    appointment = factories.appointment(org, svc=svc, prov=prov)
    with pytest.raises(IntegrityError, match="scheduling_appointment_no_overlap"), transaction.atomic():
        _raw_insert(
            appointment,
            appointment.start + datetime.timedelta(minutes=30),
            appointment.end + datetime.timedelta(minutes=30),
        )
    # Inside the buffer after: refused too.
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_insert(
            appointment,
            appointment.end + datetime.timedelta(minutes=5),
            appointment.end + datetime.timedelta(minutes=65),
        )
    # Back to back after the buffer, another provider, or a cancelled row: accepted.
    _raw_insert(appointment, appointment.occupied_until, appointment.occupied_until + datetime.timedelta(hours=1))
    other = factories.provider(org)
    _raw_insert(appointment, appointment.start, appointment.end, provider_id=other.user_id)
    _raw_insert(appointment, appointment.start, appointment.end, status="cancelled")
    assert Appointment.objects.filter(provider_id=prov.user_id).exclude(status="cancelled").count() == 2


def test_an_update_into_an_overlap_is_refused_too(org, prov, svc):
    day = factories.future_day(7)
    a = factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 9))
    b = factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 14))
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.filter(pk=b.pk).update(occupied_from=a.start, start=a.start)
    services.appointment_cancel(appointment=a)
    Appointment.objects.filter(pk=b.pk).update(occupied_from=a.start)


def test_plan_limit_refuses_with_a_clear_message(prov):
    org = base.organization(plan="free")  # 50 appointments a month
    factories.settings(org, minimum_notice_minutes=0)
    prov = factories.provider(org, windows=[(datetime.time(0), datetime.time(23, 45))])
    svc = factories.service(org, duration=15, providers=[prov])
    day = factories.future_day(3)
    for i in range(50):
        factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, i // 4, (i % 4) * 15))
    with pytest.raises(services.PlanLimitReached) as error:
        factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 20))
    assert "limit of 50 appointments" in error.value.message
    # A reschedule is not a new booking.
    first = Appointment.objects.filter(organization=org).order_by("start").first()
    services.appointment_reschedule(appointment=first, start=factories.at(org, day, 21))


def test_bad_input_is_a_validation_error(org, prov, svc, tenant_b):
    start = factories.at(org, factories.future_day(7), 10)
    with pytest.raises(ValidationError):
        services.appointment_book(
            organization=org, service=svc, provider=prov, start=start, customer_name="X", customer_phone="abc"
        )
    with pytest.raises(ValidationError):
        services.appointment_book(
            organization=org,
            service=svc,
            provider=prov,
            start=start,
            customer_name=" ",
            customer_phone="+5511999998888",
        )
    with pytest.raises(ValidationError):
        services.appointment_book(
            organization=tenant_b.org,
            service=svc,
            provider=None,
            start=start,
            customer_name="X",
            customer_phone="+5511999998888",
        )
    with pytest.raises(ValidationError):
        services.appointment_book(
            organization=org,
            service=svc,
            provider=prov,
            start=start.replace(tzinfo=None),
            customer_name="X",
            customer_phone="+5511999998888",
        )
    assert not Appointment.objects.exists()


def test_lifecycle_transitions_events_and_notifications(
    org, prov, svc, recorded_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = factories.appointment(org, svc=svc, prov=prov, email="c@example.com")
        appointment = services.appointment_confirm(appointment=appointment, by=prov.user)
    assert appointment.status == AppointmentStatus.CONFIRMED and appointment.confirmed_at
    with pytest.raises(services.ChangeNotAllowed):
        services.appointment_confirm(appointment=appointment)
    with pytest.raises(services.ChangeNotAllowed):
        services.appointment_complete(appointment=appointment)  # not started yet

    with django_capture_on_commit_callbacks(execute=True):
        moved = services.appointment_reschedule(
            appointment=appointment, start=appointment.start + datetime.timedelta(days=1)
        )
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED and moved.rescheduled_from_id == appointment.pk
    assert moved.status == AppointmentStatus.CONFIRMED
    assert NotificationLog.objects.filter(event_type="appointment_rescheduled", user=prov.user).exists()
    assert factories.customer_row(moved, "rescheduled") is not None

    _move_to_past(moved)
    with django_capture_on_commit_callbacks(execute=True):
        services.appointment_complete(appointment=moved)
    assert factories.customer_row(moved, "follow_up").metadata["kind"] == "follow_up"
    with pytest.raises(services.ChangeNotAllowed):
        services.appointment_cancel(appointment=moved)

    with django_capture_on_commit_callbacks(execute=True):
        other = factories.appointment(org, svc=svc, prov=prov, email="c@example.com", phone=moved.customer_phone)
        services.appointment_cancel(appointment=other, reason="Viagem", by=None, by_customer=True)
    assert NotificationLog.objects.filter(event_type="appointment_cancelled", user=prov.user).exists()
    assert factories.customer_row(other, "cancelled") is not None

    with django_capture_on_commit_callbacks(execute=True):
        third = _move_to_past(factories.appointment(org, svc=svc, prov=prov, phone=moved.customer_phone), days=3)
        services.appointment_mark_no_show(appointment=third)

    assert [e.name for e in recorded_events] == [
        "appointment.created",
        "appointment.confirmed",
        "appointment.rescheduled",
        "appointment.completed",
        "appointment.created",
        "appointment.cancelled",
        "appointment.created",
        "appointment.no_show",
    ]
    assert recorded_events[2].payload["previous_appointment_id"] == appointment.pk


def test_a_provider_cancelling_is_not_notified_of_their_own_action(org, prov, svc):
    appointment = factories.appointment(org, svc=svc, prov=prov)
    services.appointment_cancel(appointment=appointment, by=prov.user)
    assert not NotificationLog.objects.filter(event_type="appointment_cancelled", user__isnull=False).exists()
    assert factories.customer_row(appointment, "cancelled") is not None


def test_customers_must_respect_the_change_notice(org, prov, svc):
    factories.settings(org, change_notice_minutes=60 * 24 * 30)
    appointment = factories.appointment(org, svc=svc, prov=prov)
    with pytest.raises(services.ChangeNotAllowed, match="at least 720 hours"):
        services.appointment_cancel(appointment=appointment, by_customer=True)
    with pytest.raises(services.ChangeNotAllowed):
        services.appointment_reschedule(
            appointment=appointment, start=appointment.start + datetime.timedelta(days=1), by_customer=True
        )
    services.appointment_cancel(appointment=appointment, by=prov.user)  # staff may


def test_reschedule_onto_a_taken_slot_changes_nothing(org, prov, svc):
    day = factories.future_day(7)
    a = factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 9))
    factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 14))
    with pytest.raises(services.SlotUnavailable):
        services.appointment_reschedule(appointment=a, start=factories.at(org, day, 14, 30))
    a.refresh_from_db()
    assert a.status == AppointmentStatus.PENDING
    assert not Appointment.objects.filter(rescheduled_from=a).exists()
    # Overlapping its own old time is fine: the old row is cancelled in the same transaction.
    moved = services.appointment_reschedule(appointment=a, start=factories.at(org, day, 9, 30))
    assert moved.start == factories.at(org, day, 9, 30)


def test_client_metrics_follow_every_change(org, prov, svc):
    phone = "+5511912345678"
    day = factories.future_day(3)
    tz = org.tzinfo
    first = factories.appointment(org, svc=svc, prov=prov, phone=phone, start=factories.at(org, day, 9))
    contact = first.contact
    metrics = ClientMetrics.objects.get(contact=contact)
    assert (metrics.total_appointments, metrics.upcoming_appointments, metrics.completed_appointments) == (1, 1, 0)

    other = factories.service(org, name="Retorno", duration=30, price="80.00", providers=[prov])
    second = factories.appointment(org, svc=other, prov=prov, phone=phone, start=factories.at(org, day, 14))
    third = factories.appointment(
        org, svc=svc, prov=prov, phone=phone, start=factories.at(org, day + datetime.timedelta(days=1), 9)
    )
    fourth = factories.appointment(
        org, svc=svc, prov=prov, phone=phone, start=factories.at(org, day + datetime.timedelta(days=2), 9)
    )
    # Completed 30 and 10 days ago, a no-show 20 days ago, one cancelled, one rescheduled.
    _move_to_past(first, days=30)
    services.appointment_complete(appointment=first)
    _move_to_past(second, days=20)
    services.appointment_mark_no_show(appointment=second)
    _move_to_past(third, days=10)
    services.appointment_complete(appointment=third)
    services.appointment_cancel(appointment=fourth)
    fifth = factories.appointment(
        org, svc=svc, prov=prov, phone=phone, start=factories.at(org, day + datetime.timedelta(days=5), 10)
    )
    services.appointment_reschedule(appointment=fifth, start=factories.at(org, day + datetime.timedelta(days=6), 10))

    metrics.refresh_from_db()
    assert metrics.total_appointments == 5
    assert metrics.completed_appointments == 2
    assert metrics.no_show_appointments == 1
    assert metrics.cancelled_appointments == 1
    assert metrics.rescheduled_appointments == 1
    assert metrics.upcoming_appointments == 1
    assert metrics.total_spent == Decimal("300.00")
    assert metrics.average_ticket == Decimal("150.00")
    first.refresh_from_db()
    third.refresh_from_db()
    assert metrics.average_days_between == pytest.approx((third.start - first.start).total_seconds() / 86400, abs=0.1)
    assert metrics.frequency_score == pytest.approx(round(2 * 100 / 12, 1))
    assert metrics.preferred_services[0] == {"id": svc.pk, "name": "Consulta"}
    first.refresh_from_db()
    assert metrics.first_appointment_at == first.start
    assert metrics.last_appointment_at == factories.at(org, day + datetime.timedelta(days=6), 10)
    assert metrics.preferred_times[0] == "09:00"
    live_days = {
        a.start.astimezone(tz).weekday()
        for a in Appointment.objects.filter(contact=contact).exclude(status="cancelled")
    }
    assert len(metrics.preferred_days) == min(3, len(live_days)) and set(metrics.preferred_days) <= live_days
