"""The staff calendar: day/week grids, role and tenant scoping, actions, staff booking, statistics."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership
from scheduling import selectors
from scheduling.models import Appointment, AppointmentStatus
from tests.scheduling import factories

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def setup(tenant_a):
    org = tenant_a.org
    factories.settings(org, minimum_notice_minutes=0)
    agent = Membership.objects.get(organization=org, user=tenant_a.agent)
    admin = Membership.objects.get(organization=org, user=tenant_a.admin)
    for weekday in range(7):
        from scheduling import services

        services.working_hours_set(provider=agent, weekday=weekday, windows=factories.NINE_TO_SIX)
        services.working_hours_set(provider=admin, weekday=weekday, windows=factories.NINE_TO_SIX)
    svc = factories.service(org, name="Avaliação", duration=60, providers=[agent, admin])
    day = factories.future_day(4)
    mine = factories.appointment(org, svc=svc, prov=agent, start=factories.at(org, day, 10), name="Cliente do Agente")
    theirs = factories.appointment(org, svc=svc, prov=admin, start=factories.at(org, day, 11), name="Cliente da Admin")
    return {"org": org, "svc": svc, "day": day, "mine": mine, "theirs": theirs, "agent": agent, "admin": admin}


def cal(day, **params):
    return reverse("scheduling:calendar"), {"date": day.isoformat(), **params}


def test_agents_see_their_own_calendar_admins_and_viewers_everyone(setup, tenant_a, client_for):
    url, params = cal(setup["day"])
    agent_page = client_for(tenant_a.agent).get(url, params).content.decode()
    assert "Cliente do Agente" in agent_page and "Cliente da Admin" not in agent_page
    for user in (tenant_a.admin, tenant_a.viewer):
        page = client_for(user).get(url, params).content.decode()
        assert "Cliente do Agente" in page and "Cliente da Admin" in page
    rows = client_for(tenant_a.admin).get(url, params).content.decode()
    assert 'rowspan="4"' in rows  # one hour in 15-minute rows


def test_week_view_and_htmx_partial(setup, tenant_a, client_for):
    client = client_for(tenant_a.admin)
    url, params = cal(setup["day"], view="week", provider=setup["agent"].pk)
    response = client.get(url, params, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and 'id="calendar"' in body
    assert body.count('<th scope="col">') == 7
    assert "Cliente do Agente" in body and "Cliente da Admin" not in body


def test_calendar_queries_do_not_grow_with_appointments(setup, tenant_a, client_for):
    client = client_for(tenant_a.admin)
    url, params = cal(setup["day"])
    client.get(url, params)
    with CaptureQueriesContext(connection) as few:
        client.get(url, params)
    for hour in (14, 15, 16):
        factories.appointment(
            setup["org"], svc=setup["svc"], prov=setup["agent"], start=factories.at(setup["org"], setup["day"], hour)
        )
    with CaptureQueriesContext(connection) as more:
        assert "Cliente Teste" in client.get(url, params).content.decode()
    assert len(more) == len(few)


def test_appointment_detail_is_scoped(setup, tenant_a, tenant_b, client_for):
    agent = client_for(tenant_a.agent)
    assert agent.get(reverse("scheduling:appointment", args=[setup["mine"].pk])).status_code == 200
    assert agent.get(reverse("scheduling:appointment", args=[setup["theirs"].pk])).status_code == 404
    assert client_for(tenant_b.admin).get(reverse("scheduling:appointment", args=[setup["mine"].pk])).status_code == 404
    assert (
        client_for(tenant_a.viewer).get(reverse("scheduling:appointment", args=[setup["theirs"].pk])).status_code == 200
    )


def test_actions_by_role(setup, tenant_a, tenant_b, client_for):
    confirm = reverse("scheduling:appointment_action", args=[setup["mine"].pk, "confirm"])
    assert client_for(tenant_a.viewer).post(confirm).status_code == 403
    assert client_for(tenant_b.admin).post(confirm).status_code in (403, 404)
    assert (
        client_for(tenant_a.agent)
        .post(reverse("scheduling:appointment_action", args=[setup["theirs"].pk, "confirm"]))
        .status_code
        == 404
    )
    response = client_for(tenant_a.agent).post(confirm, **HTMX)
    assert response.status_code == 200 and "Appointment confirmed." in response.content.decode()
    setup["mine"].refresh_from_db()
    assert setup["mine"].status == AppointmentStatus.CONFIRMED
    again = client_for(tenant_a.admin).post(confirm, **HTMX)
    assert "cannot be changed" in again.content.decode()
    cancel = client_for(tenant_a.admin).post(
        reverse("scheduling:appointment_action", args=[setup["theirs"].pk, "cancel"]), {"reason": "Agenda"}
    )
    assert cancel.status_code == 302
    assert (
        client_for(tenant_a.admin)
        .post(reverse("scheduling:appointment_action", args=[setup["theirs"].pk, "explode"]))
        .status_code
        == 404
    )


def test_staff_booking(setup, tenant_a, client_for):
    client = client_for(tenant_a.agent)
    url = reverse("scheduling:appointment_new")
    start = datetime.datetime.combine(setup["day"], datetime.time(14))
    data = {
        "service": setup["svc"].pk,
        "provider": setup["agent"].pk,
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "name": "Walk-in",
        "phone": "+5511933334444",
        "email": "",
        "notes": "",
        "confirm": "on",
    }
    assert client.post(url, data).status_code == 302
    booked = Appointment.objects.get(customer_name="Walk-in")
    assert (
        booked.start == factories.at(setup["org"], setup["day"], 14)
        and booked.status == "confirmed"
        and booked.source == "staff"
    )
    taken = client.post(url, {**data, "phone": "+5511933335555"})
    assert taken.status_code == 400 and "no longer available" in taken.content.decode()
    # An agent cannot book for another provider (not among the choices).
    other = client.post(
        url, {**data, "provider": setup["admin"].pk, "start": start.replace(hour=16).strftime("%Y-%m-%dT%H:%M")}
    )
    assert other.status_code == 400
    assert client_for(tenant_a.viewer).get(url).status_code == 403


def test_statistics_for_admins_only(setup, tenant_a, client_for):
    page = client_for(tenant_a.admin).get(
        reverse("scheduling:statistics"), {"from": setup["day"].isoformat(), "to": setup["day"].isoformat()}
    )
    assert page.status_code == 200
    assert page.context["stats"]["total"] == 2 and "Avaliação" in page.content.decode()
    assert client_for(tenant_a.agent).get(reverse("scheduling:statistics")).status_code == 403
    assert (
        client_for(tenant_a.admin)
        .get(reverse("scheduling:statistics"), {"from": "garbage", "to": "2020-01-01"})
        .status_code
        == 200
    )


def test_contact_panel_partial(setup):
    org = setup["org"]
    contact = setup["mine"].contact
    html = render_to_string(
        "scheduling/_contact_appointments.html",
        {
            "appointments": selectors.appointment_list_for_contact(organization=org, contact=contact),
            "client_metrics": selectors.client_metrics_get(organization=org, contact=contact),
            "organization": org,
        },
    )
    assert "Avaliação" in html and "10:00" in html and "1 in total" in html
