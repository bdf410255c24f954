"""Date and instant parameters at the edges of the calendar, on every scheduling page: never a 500.

``scheduling.dates`` parses them once. Pages a link brings you to (the calendar, statistics, the
public booking and manage pages) show their default with a message (staff) or fall back quietly
(public); forms (staff booking, public confirm, reschedule) refuse with a 400 and a clear message.
Run on Django's ``DEBUG=False`` path, exceptions turned into responses as in production.
"""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from accounts.models import Membership
from scheduling import dates, links
from scheduling.forms import form_started_token
from scheduling.models import Appointment
from tests.scheduling import factories

pytestmark = pytest.mark.django_db

EDGE_DATES = ["0001-01-01", "0001-01-07", "9999-12-31", "9999-12-25", "1899-12-31", "3000-01-01", "2024-13-45", "x"]
EDGE_INSTANTS = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59",
    "3000-01-01T00:00:00+00:00",
    "garbage",
]


@pytest.fixture(autouse=True)
def fast_forms(settings):
    settings.SCHEDULING_BOOKING_MIN_FILL_SECONDS = 0
    settings.SCHEDULING_BOOKING_RATE_LIMIT = 10_000


@pytest.fixture
def setup(tenant_a):
    org = tenant_a.org
    agent = Membership.objects.get(organization=org, user=tenant_a.agent)
    factories.settings(org, minimum_notice_minutes=0)
    for weekday in range(7):
        from scheduling import services

        services.working_hours_set(provider=agent, weekday=weekday, windows=factories.NINE_TO_SIX)
    svc = factories.service(org, name="Avaliação", providers=[agent])
    appointment = factories.appointment(org, svc=svc, prov=agent, email="c@example.com")
    return {
        "org": org,
        "svc": svc,
        "agent": agent,
        "appointment": appointment,
        "token": links.manage_token(appointment),
    }


def production_client(user=None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_parser_accepts_the_range_and_refuses_the_edges():
    assert dates.parse_date("2025-03-01") == datetime.date(2025, 3, 1)
    assert dates.parse_date("") is None
    for value in ("0001-01-01", "9999-12-31", "1899-12-31", "3000-01-01"):
        with pytest.raises(ValidationError) as refused:
            dates.parse_date(value)
        assert refused.value.messages == ["Enter a date between 1900-01-01 and 2999-12-31."]
    with pytest.raises(ValidationError, match="is not a date"):
        dates.parse_date("2024-13-45")
    assert dates.date_or_default("9999-12-31", datetime.date(2025, 1, 1)) == datetime.date(2025, 1, 1)
    assert dates.parse_instant("2025-03-01T10:00:00-03:00") == datetime.datetime(2025, 3, 1, 13, tzinfo=datetime.UTC)
    for value in EDGE_INSTANTS:
        with pytest.raises(ValidationError):
            dates.parse_instant(value, tz=datetime.UTC)
    with pytest.raises(ValidationError):
        dates.parse_instant("2025-03-01T10:00")  # no offset and no zone to read it in


@override_settings(DEBUG=False)
@pytest.mark.parametrize("role", ["agent", "viewer", "admin"])
def test_the_calendar_day_and_week_at_the_edges(setup, tenant_a, role):
    client = production_client(getattr(tenant_a, role))
    for value in EDGE_DATES:
        for view in ("day", "week"):
            response = client.get(reverse("scheduling:calendar"), {"date": value, "view": view})
            assert response.status_code == 200, (value, view)
            assert response.context["day"] == datetime.date.today() or response.context["day"] >= dates.EARLIEST
    shown = client.get(reverse("scheduling:calendar"), {"date": "9999-12-31", "view": "week"})
    assert "Enter a date between 1900-01-01 and 2999-12-31." in shown.content.decode()
    partial = client.get(reverse("scheduling:calendar"), {"date": "0001-01-01"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert "Enter a date between 1900-01-01 and 2999-12-31." in partial.content.decode()  # in the swapped part
    near_the_end = client.get(reverse("scheduling:calendar"), {"date": "2999-12-31", "view": "week"})
    assert near_the_end.status_code == 200 and near_the_end.context["last"] == datetime.date(3000, 1, 5)


@override_settings(DEBUG=False)
def test_statistics_ranges_at_the_edges(setup, tenant_a):
    client = production_client(tenant_a.admin)
    for first in EDGE_DATES:
        for last in EDGE_DATES:
            response = client.get(reverse("scheduling:statistics"), {"from": first, "to": last})
            assert response.status_code == 200, (first, last)
    with translation.override("pt-br"):
        response = client.get(reverse("scheduling:statistics"), {"from": "0001-01-01"}, HTTP_ACCEPT_LANGUAGE="pt-br")
    assert "Informe uma data entre 1900-01-01 e 2999-12-31." in response.content.decode()


@override_settings(DEBUG=False)
def test_staff_booking_refuses_edge_instants_with_a_form_error(setup, tenant_a):
    client = production_client(tenant_a.admin)
    url = reverse("scheduling:appointment_new")
    for value in EDGE_INSTANTS:
        assert client.get(url, {"start": value}).status_code == 200
        response = client.post(
            url,
            {
                "service": setup["svc"].pk,
                "provider": setup["agent"].pk,
                "start": value,
                "name": "Cliente",
                "phone": "+5511987650000",
            },
        )
        assert response.status_code == 400, value
        assert response.context["form"].errors["start"], value
    assert Appointment.objects.count() == 1


@override_settings(DEBUG=False)
def test_public_pages_fall_back_at_the_edges(setup):
    org, svc, token = setup["org"], setup["svc"], setup["token"]
    client = production_client()
    book = reverse("scheduling:book", args=[org.slug])
    manage = reverse("scheduling:manage", args=[org.slug, token])
    today = datetime.date.today()
    for value in EDGE_DATES:
        for params in ({"from": value}, {"service": svc.pk, "date": value}, {"service": svc.pk, "from": value}):
            response = client.get(book, params)
            assert response.status_code == 200, params
            assert response.context["first"] >= today
        response = client.get(manage, {"reschedule": "1", "from": value, "date": value})
        assert response.status_code == 200, value
    for value in EDGE_INSTANTS:
        assert client.get(book, {"service": svc.pk, "start": value}).status_code == 200, value


@override_settings(DEBUG=False)
def test_public_confirm_and_reschedule_refuse_edge_instants(setup):
    org, svc, token = setup["org"], setup["svc"], setup["token"]
    client = production_client()
    for value in EDGE_INSTANTS:
        response = client.post(
            reverse("scheduling:book_confirm", args=[org.slug]),
            {
                "service": svc.pk,
                "start": value,
                "name": "Carlos",
                "phone": "+55 11 97777-1234",
                "email": "carlos@example.com",
                "started": form_started_token(),
            },
        )
        assert response.status_code == 400, value
        assert "Choose a time from the list." in response.content.decode()
        response = client.post(reverse("scheduling:manage_reschedule", args=[org.slug, token]), {"start": value})
        assert response.status_code == 400, value
    assert Appointment.objects.count() == 1
