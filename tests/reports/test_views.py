"""Report pages and exports: permissions, tenant isolation, agents' own figures, period validation."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import time_machine

from accounts.roles import Role
from conversations import services
from conversations.reports import registry
from tests import factories
from tests.reports import builders

pytestmark = pytest.mark.django_db

PERIOD = "preset=custom&date_from=2026-10-01&date_to=2026-10-31"
DAY = dt.date(2026, 10, 14)  # a Wednesday


def _handled(world, agent, phone, hour):
    """A conversation ``agent`` answers and closes on ``DAY``."""
    with time_machine.travel(builders.local(DAY, hour), tick=False):
        conversation = services.inbound_message_receive(
            channel=world.channel, phone=phone, body="hi"
        ).message.conversation
        services.conversation_assign(conversation=conversation, membership=agent)
    with time_machine.travel(builders.local(DAY, hour, 20), tick=False):
        conversation.refresh_from_db()
        services.message_send(conversation=conversation, author=agent, body="hello")
        services.conversation_close(conversation=conversation)


@pytest.fixture
def world():
    world = builders.setup_org("views")
    _handled(world, world.agents[0], "+12125550200", 10)
    _handled(world, world.agents[0], "+12125550201", 11)
    _handled(world, world.agents[1], "+12125550202", 12)
    world.admin = factories.member(world.org, Role.ORG_ADMIN, email="admin@views.test").user
    world.viewer = factories.member(world.org, Role.VIEWER, email="viewer@views.test").user
    return world


def _json(client, slug, params=PERIOD):
    response = client.get(f"/reports/{slug}.json?{params}")
    assert response.status_code == 200, response.content
    return response.json()


def _figures(body) -> list:
    """Every number of a report (KPIs and table cells), to compare two reports' contents."""
    values = [k["value"] for k in body["kpis"]]
    for table in body["tables"]:
        for row in table["rows"]:
            values += [v for v in row[1:] if isinstance(v, (int, float))]
    return values


def test_admin_and_viewer_read_every_section_page_and_export(world, client_for):
    for user in (world.admin, world.viewer):
        client = client_for(user)
        for section in registry.sections():
            page = client.get(f"/reports/{section.slug}/?{PERIOD}")
            assert page.status_code == 200, section.slug
            assert client.get(f"/reports/{section.slug}.json?{PERIOD}").status_code == 200
            assert client.get(f"/reports/{section.slug}.csv?{PERIOD}").status_code == 200
    overview = _json(client_for(world.admin), "overview")
    kpis = {k["label"]: k["value"] for k in overview["kpis"]}
    assert kpis["Conversations opened"] == 3
    assert kpis["Conversations closed"] == 3
    assert kpis["Median first response"] is not None


def test_anonymous_users_are_sent_to_log_in(client_for):
    response = client_for(None).get("/reports/overview/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_every_report_and_export_is_isolated_by_tenant(world, client_for):
    stranger_org = factories.organization(name="Stranger", slug="stranger")
    stranger = factories.member(stranger_org, Role.ORG_ADMIN, email="admin@stranger.test").user
    client = client_for(stranger)
    for section in registry.sections():
        body = _json(client, section.slug)
        assert not any(_figures(body)), section.slug
        page = client.get(f"/reports/{section.slug}/?{PERIOD}").content.decode()
        assert "agent0@views.test" not in page
        exported = b"".join(client.get(f"/reports/{section.slug}.csv?{PERIOD}").streaming_content).decode()
        assert "agent0@views.test" not in exported
    # Another organization's queue, agent or channel is not a valid filter.
    for param in (f"queue={world.queue.pk}", f"agent={world.agents[0].user_id}", f"channel={world.channel.pk}"):
        assert client.get(f"/reports/overview.json?{PERIOD}&{param}").status_code == 400
        assert client.get(f"/reports/overview/?{PERIOD}&{param}").status_code == 400


def test_agents_see_only_their_own_figures(world, client_for):
    mine, other = world.agents
    client = client_for(mine.user)
    board = _json(client, "agents")["tables"][0]["rows"]
    assert [row[0] for row in board] == [mine.user.email]
    assert board[0][1] == 2  # closed two
    # The agent filter is not theirs to choose: asking for a colleague still shows their own.
    board = _json(client, "agents", f"{PERIOD}&agent={other.user_id}")["tables"][0]["rows"]
    assert [row[0] for row in board] == [mine.user.email]
    kpis = {k["label"]: k["value"] for k in _json(client, "overview")["kpis"]}
    assert kpis["Conversations closed"] == 2 and "Conversations opened" not in kpis
    exported = b"".join(client.get(f"/reports/agents.csv?{PERIOD}").streaming_content).decode("utf-8-sig")
    assert other.user.email not in exported and mine.user.email in exported
    # Sections without an agent dimension are the organization's, not an agent's.
    for slug in ("peak-hours", "contacts", "campaigns"):
        assert client.get(f"/reports/{slug}/?{PERIOD}").status_code == 403
        assert client.get(f"/reports/{slug}.csv?{PERIOD}").status_code == 403
    # An admin sees both agents.
    board = _json(client_for(world.admin), "agents")["tables"][0]["rows"]
    assert sorted(row[0] for row in board) == sorted([mine.user.email, other.user.email])


def test_filters_narrow_the_figures(world, client_for):
    client = client_for(world.admin)

    def closed(params):
        return {k["label"]: k["value"] for k in _json(client, "overview", f"{PERIOD}&{params}")["kpis"]}[
            "Conversations closed"
        ]

    assert closed(f"agent={world.agents[1].user_id}") == 1
    assert closed(f"queue={world.queue.pk}") == 3
    assert closed(f"queue={world.other_queue.pk}") == 0
    assert closed(f"department={world.queue.department_id}") == 3
    assert closed(f"channel={world.channel.pk}") == 3


def test_comparison_with_the_previous_period(world, client_for):
    body = _json(client_for(world.admin), "overview", "preset=custom&date_from=2026-11-01&date_to=2026-11-30")
    kpis = {k["label"]: (k["value"], k["previous"]) for k in body["kpis"]}
    assert kpis["Conversations closed"] == (0, 3)  # October is the previous 30 days here (Oct 2–31)


@pytest.mark.parametrize(
    "params",
    [
        "preset=custom&date_from=0001-01-01&date_to=2026-10-31",
        "preset=custom&date_from=2026-10-01&date_to=9999-12-31",
        "preset=custom&date_from=2026-10-31&date_to=2026-10-01",
        "preset=custom&date_from=2020-01-01&date_to=2026-10-01",
        "preset=custom&date_from=2026-10-01",
        "preset=custom&date_from=not-a-date&date_to=2026-10-01",
        "preset=forever",
        "queue=abc",
        "agent=999999",
        "department=1.5",
    ],
)
def test_bad_periods_and_filters_get_a_clear_400(world, client_for, params):
    client = client_for(world.admin)
    page = client.get(f"/reports/overview/?{params}")
    assert page.status_code == 400
    assert b'role="alert"' in page.content
    exported = client.get(f"/reports/overview.csv?{params}")
    assert exported.status_code == 400
    body = client.get(f"/reports/overview.json?{params}")
    assert body.status_code == 400 and body.json()["errors"]


def test_unknown_section_and_table(world, client_for):
    client = client_for(world.admin)
    assert client.get("/reports/nope/").status_code == 404
    assert client.get("/reports/nope.csv").status_code == 404
    assert client.get(f"/reports/overview.csv?{PERIOD}&table=nope").status_code == 400


def test_csv_export_is_streamed_utf8_with_bom_and_parses(world, client_for):
    client = client_for(world.admin)
    response = client.get(f"/reports/conversations.csv?{PERIOD}&table=daily")
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Day", "Opened", "Closed", "Reopened"]
    assert rows[0][4] == "Median first response (seconds)"
    assert len(rows) == 1 + 31
    assert {row[0]: int(row[2]) for row in rows[1:]}[DAY.isoformat()] == 3


def test_pages_in_portuguese_format_numbers_and_labels(world, client_for):
    client = client_for(world.admin)
    client.cookies["django_language"] = "pt-br"
    page = client.get(f"/reports/conversations/?{PERIOD}", HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "Conversas abertas" in page or "Abertas" in page
    assert "14/10/2026" in page


def test_report_pages_run_a_bounded_number_of_queries(world, client_for, django_assert_max_num_queries):
    client = client_for(world.admin)
    client.get(f"/reports/overview/?{PERIOD}")
    with django_assert_max_num_queries(30):
        assert client.get(f"/reports/overview/?{PERIOD}").status_code == 200
    with django_assert_max_num_queries(30):
        assert client.get(f"/reports/agents/?{PERIOD}").status_code == 200


def test_json_export_holds_the_tables(world, client_for):
    body = _json(client_for(world.admin), "messages")
    assert [t["slug"] for t in body["tables"]] == ["daily", "kinds", "delivery"]
    assert json.dumps(body)


def test_overview_opens_on_today_and_the_others_on_30_days(world, client_for):
    client = client_for(world.admin)
    page = client.get("/reports/overview/")
    assert page.context["query"].period.days == 1
    assert page.context["previous"].days == 1
    assert 'hx-trigger="every 60s"' in page.content.decode()  # today's overview refreshes itself
    page = client.get("/reports/agents/")
    assert page.context["query"].period.days == 30
    assert 'hx-trigger="every 60s"' not in page.content.decode()


def test_csv_cells_never_run_as_spreadsheet_formulas(world, client_for):
    from tests.conversations import factories as cf

    tag = cf.tag(world.org, name="=HYPERLINK(1)")
    contact = cf.contact(world.org)
    contact.tags.add(tag)
    raw = b"".join(client_for(world.admin).get(f"/reports/contacts.csv?{PERIOD}&table=tags").streaming_content)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert ["'=HYPERLINK(1)", "1"] in rows
