"""The public booking page and the manage link, through HTTP (Django's test client)."""

from __future__ import annotations

import datetime
import time

import pytest
from django.core import signing
from django.urls import reverse

from scheduling import links
from scheduling.forms import FILL_SALT, form_started_token
from scheduling.models import Appointment, AppointmentStatus
from tests import factories as base
from tests.scheduling import factories

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def fast_forms(settings):
    settings.SCHEDULING_BOOKING_MIN_FILL_SECONDS = 0
    settings.SCHEDULING_BOOKING_RATE_LIMIT = 1000


@pytest.fixture
def org():
    organization = base.organization(name="Barbearia Zé", slug="barbearia-ze", time_zone="America/Sao_Paulo")
    factories.settings(organization, minimum_notice_minutes=60, booking_horizon_days=60, slot_interval_minutes=30)
    return organization


@pytest.fixture
def svc(org):
    prov = factories.provider(org, full_name="Zé")
    return factories.service(org, name="Corte", duration=30, price="45.00", providers=[prov])


def book_url(org):
    return reverse("scheduling:book", args=[org.slug])


def confirm_url(org):
    return reverse("scheduling:book_confirm", args=[org.slug])


def _post_data(svc, when, **overrides):
    data = {
        "service": svc.pk,
        "provider": "",
        "start": when.isoformat(),
        "name": "Carlos",
        "phone": "+55 11 97777-1234",
        "email": "carlos@example.com",
        "notes": "",
        "website": "",
        "started": form_started_token(),
    }
    data.update(overrides)
    return data


def test_steps_service_date_slot_details(client, org, svc):
    page = client.get(book_url(org))
    assert page.status_code == 200 and "Corte" in page.content.decode()
    dates = client.get(book_url(org), {"service": svc.pk}, **HTMX)
    body = dates.content.decode()
    assert dates.status_code == 200 and "<html" not in body and 'id="booking-panel"' in body
    day = factories.future_day(3)
    assert f'data-date="{day.isoformat()}"' in body
    slots = client.get(book_url(org), {"service": svc.pk, "date": day.isoformat()}, **HTMX)
    assert ">09:00<" in slots.content.decode() and ">17:30<" in slots.content.decode()
    start = factories.at(org, day, 9)
    details = client.get(book_url(org), {"service": svc.pk, "start": start.isoformat()})
    assert (
        details.status_code == 200
        and 'name="started"' in details.content.decode()
        and 'name="website"' in details.content.decode()
    )


def test_unknown_or_disabled_pages_are_404(client, org, svc):
    assert client.get("/book/nobody-here/").status_code == 404
    factories.settings(org, booking_enabled=False)
    assert client.get(book_url(org)).status_code == 404


def test_garbage_parameters_never_500(client, org, svc):
    for params in (
        {"service": "x"},
        {"service": svc.pk, "date": "2020-13-45"},
        {"service": svc.pk, "start": "tomorrow"},
        {"service": 999999},
    ):
        assert client.get(book_url(org), params).status_code == 200
    assert client.post(confirm_url(org), {"service": "nope"}).status_code == 400
    assert (
        client.post(
            confirm_url(org), _post_data(svc, factories.at(org, factories.future_day(3), 9), start="garbage")
        ).status_code
        == 400
    )


def test_booking_then_confirmation_page(client, org, svc):
    start = factories.at(org, factories.future_day(3), 9)
    response = client.post(confirm_url(org), _post_data(svc, start))
    assert response.status_code == 302
    appointment = Appointment.objects.get(organization=org)
    assert (
        appointment.start == start and appointment.source == "public" and appointment.contact.phone == "+5511977771234"
    )
    page = client.get(response["Location"])
    body = page.content.decode()
    assert (
        page.status_code == 200
        and "carlos@example.com" in body
        and "calendar.google.com" in body
        and "outlook.live.com" in body
    )
    assert reverse("scheduling:manage_ics", args=[org.slug, links.manage_token(appointment)]) in body


def test_htmx_booking_redirects_with_a_header(client, org, svc):
    start = factories.at(org, factories.future_day(3), 10)
    response = client.post(confirm_url(org), _post_data(svc, start), **HTMX)
    assert response.status_code == 201 and "/booked/" in response["HX-Redirect"]


def test_taken_slot_is_a_clear_409(client, org, svc):
    start = factories.at(org, factories.future_day(3), 9)
    assert client.post(confirm_url(org), _post_data(svc, start)).status_code == 302
    again = client.post(confirm_url(org), _post_data(svc, start, phone="+5511966665555"))
    assert again.status_code == 409
    assert "no longer available" in again.content.decode()
    htmx = client.post(confirm_url(org), _post_data(svc, start, phone="+5511966665555"), **HTMX)
    assert htmx.status_code == 200 and "no longer available" in htmx.content.decode()  # HTMX swaps only 2xx
    assert Appointment.objects.count() == 1


def test_outside_notice_is_refused_with_the_reason(client, org, svc):
    soon = factories.at(org, factories.future_day(0), 0) + datetime.timedelta(minutes=30)
    response = client.post(confirm_url(org), _post_data(svc, soon))
    assert response.status_code == 409
    assert not Appointment.objects.exists()


def test_spam_guards(client, org, svc, settings):
    start = factories.at(org, factories.future_day(3), 9)
    honeypot = client.post(confirm_url(org), _post_data(svc, start, website="http://spam.example"))
    assert honeypot.status_code == 400 and "looks automated" in honeypot.content.decode()
    settings.SCHEDULING_BOOKING_MIN_FILL_SECONDS = 3
    fast = client.post(confirm_url(org), _post_data(svc, start))
    assert fast.status_code == 400 and "very fast" in fast.content.decode()
    signer = signing.TimestampSigner(salt=FILL_SALT)
    old_enough = signer.sign(str(int(time.time()) - 10))
    tampered = client.post(confirm_url(org), _post_data(svc, start, started=old_enough[:-3] + "abc"))
    assert tampered.status_code == 400 and "altered" in tampered.content.decode()
    assert client.post(confirm_url(org), _post_data(svc, start, started=old_enough)).status_code == 302
    assert Appointment.objects.count() == 1


def test_form_errors_are_shown(client, org, svc):
    start = factories.at(org, factories.future_day(3), 9)
    response = client.post(confirm_url(org), _post_data(svc, start, phone="12", email="not-an-email", name=""))
    body = response.content.decode()
    assert response.status_code == 400 and "phone" in body.lower() and "valid email" in body
    assert not Appointment.objects.exists()


def test_rate_limit_per_address(client, org, svc, settings):
    settings.SCHEDULING_BOOKING_RATE_LIMIT = 2
    day = factories.future_day(3)
    statuses = [
        client.post(
            confirm_url(org), _post_data(svc, factories.at(org, day, 9 + i), phone=f"+55119777700{i:02d}")
        ).status_code
        for i in range(3)
    ]
    assert statuses == [302, 302, 429]
    other = client.post(confirm_url(org), _post_data(svc, factories.at(org, day, 14)), REMOTE_ADDR="10.1.2.3")
    assert other.status_code == 302
    assert (
        "Too many booking attempts"
        in client.post(confirm_url(org), _post_data(svc, factories.at(org, day, 15))).content.decode()
    )


def test_manage_link_see_cancel(client, org, svc):
    appointment = factories.appointment(
        org,
        svc=svc,
        prov=svc.providers.get(),
        start=factories.at(org, factories.future_day(5), 10),
        email="a@example.com",
    )
    token = links.manage_token(appointment)
    url = reverse("scheduling:manage", args=[org.slug, token])
    page = client.get(url)
    assert (
        page.status_code == 200 and "Corte" in page.content.decode() and "Cancel appointment" in page.content.decode()
    )
    ics_response = client.get(reverse("scheduling:manage_ics", args=[org.slug, token]))
    assert ics_response["Content-Type"].startswith("text/calendar") and b"BEGIN:VEVENT" in ics_response.content
    cancelled = client.post(
        reverse("scheduling:manage_cancel", args=[org.slug, token]), {"reason": "Não posso"}, **HTMX
    )
    assert cancelled.status_code == 200 and "is cancelled" in cancelled.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED and appointment.cancellation_reason == "Não posso"
    assert client.post(reverse("scheduling:manage_cancel", args=[org.slug, token])).status_code == 409


def test_manage_link_reschedule_and_change_notice(client, org, svc):
    prov = svc.providers.get()
    day = factories.future_day(5)
    appointment = factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, 10))
    token = links.manage_token(appointment)
    choose = client.get(
        reverse("scheduling:manage", args=[org.slug, token]), {"reschedule": 1, "date": day.isoformat()}, **HTMX
    )
    assert choose.status_code == 200 and 'name="start"' in choose.content.decode()
    new_start = factories.at(org, day, 15)
    moved = client.post(
        reverse("scheduling:manage_reschedule", args=[org.slug, token]), {"start": new_start.isoformat()}
    )
    assert moved.status_code == 200 and "was moved" in moved.content.decode()
    new = Appointment.objects.get(rescheduled_from=appointment)
    assert new.start == new_start
    # The old link still works and shows the new time.
    assert "15:00" in client.get(reverse("scheduling:manage", args=[org.slug, token])).content.decode()
    factories.settings(org, change_notice_minutes=60 * 24 * 30)
    refused = client.post(
        reverse("scheduling:manage_reschedule", args=[org.slug, token]),
        {"start": factories.at(org, day, 16).isoformat()},
    )
    assert refused.status_code == 409 and "at least 720 hours" in refused.content.decode()
    page = client.get(reverse("scheduling:manage", args=[org.slug, token])).content.decode()
    assert "Cancel appointment" not in page and "Changes can be made online until 720 hours" in page


def test_tampered_expired_and_foreign_links(client, org, svc, tenant_b):
    appointment = factories.appointment(org, svc=svc, prov=svc.providers.get())
    token = links.manage_token(appointment)
    tampered = client.get(
        reverse("scheduling:manage", args=[org.slug, token[:-1] + ("A" if token[-1] != "A" else "B")])
    )
    assert tampered.status_code == 404 and "This link is not valid" in tampered.content.decode()
    assert client.post(reverse("scheduling:manage_cancel", args=[org.slug, "garbage"])).status_code == 404
    factories.settings(tenant_b.org)
    assert client.get(reverse("scheduling:manage", args=[tenant_b.org.slug, token])).status_code == 404

    class SignedLongAgo(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - 100 * 86400)

    expired = client.get(
        reverse("scheduling:manage", args=[org.slug, SignedLongAgo(salt=links.SALT).sign(str(appointment.public_id))])
    )
    assert expired.status_code == 410 and "This link has expired" in expired.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.PENDING


def test_a_taken_provider_falls_back_to_another_free_one(client, org):
    first = factories.provider(org, full_name="Primeiro")
    second = factories.provider(org, full_name="Segundo")
    svc = factories.service(org, name="Barba", duration=30, providers=[first, second])
    start = factories.at(org, factories.future_day(3), 9)
    factories.appointment(org, svc=svc, prov=first, start=start)  # taken while the customer was on the form
    response = client.post(confirm_url(org), _post_data(svc, start, provider=first.pk))
    assert response.status_code == 302
    assert Appointment.objects.get(customer_name="Carlos").provider_id == second.user_id
    third = client.post(confirm_url(org), _post_data(svc, start, provider=first.pk, phone="+5511955551111"))
    assert third.status_code == 409


def test_plan_limit_on_the_public_page(client):
    org = base.organization(slug="pequena", plan="free")  # 50 a month
    factories.settings(org, minimum_notice_minutes=0)
    prov = factories.provider(org, windows=[(datetime.time(0), datetime.time(23, 45))])
    svc = factories.service(org, duration=15, providers=[prov])
    day = factories.future_day(3)
    for i in range(50):
        factories.appointment(org, svc=svc, prov=prov, start=factories.at(org, day, i // 4, (i % 4) * 15))
    response = client.post(confirm_url(org), _post_data(svc, factories.at(org, day, 20)))
    assert response.status_code == 403
    assert "reached its plan&#x27;s limit of 50 appointments this month" in response.content.decode()
