"""The contacts pages: who may read and change, tenant isolation, the list's filters, export, query counts."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.campaigns.models import Segment
from conversations.contacts import services
from conversations.contacts.models import CustomField
from conversations.models import Contact, OptIn, Tag
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db

HX_LIST = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "contacts-list"}


def edit(client, contact, **data):
    return client.post(reverse("contacts:edit", args=[contact.pk]), data, HTTP_HX_REQUEST="true")


def test_viewers_read_but_cannot_change_import_or_bulk(tenant_a, client_for):
    contact = cf.contact(tenant_a.org, name="Maria")
    viewer = client_for(tenant_a.viewer)
    assert viewer.get(reverse("contacts:list")).status_code == 200
    page = viewer.get(reverse("contacts:detail", args=[contact.pk]))
    assert page.status_code == 200 and b'id="contact-details-form"' not in page.content
    assert edit(viewer, contact, action="details", name="Hacked").status_code == 403
    assert edit(viewer, contact, action="tag_add", tag="x").status_code == 403
    assert edit(viewer, contact, action="block").status_code == 403
    assert viewer.post(reverse("contacts:bulk"), {"action": "opt_out", "scope": "all"}).status_code == 403
    assert viewer.post(reverse("contacts:segment-save"), {"name": "S"}).status_code == 403
    assert viewer.get(reverse("contacts:import-upload")).status_code == 403
    contact.refresh_from_db()
    assert contact.name == "Maria" and contact.opt_in == OptIn.UNKNOWN and not contact.is_blocked


def test_another_organizations_contact_field_tag_and_import_are_404(tenant_a, tenant_b, client_for):
    theirs = cf.contact(tenant_b.org, name="Theirs")
    their_tag = cf.tag(tenant_b.org, "theirs")
    their_field = services.custom_field_create(organization=tenant_b.org, key="secret", label="Secret", kind="text")
    mine = cf.contact(tenant_a.org)
    agent = client_for(tenant_a.agent)
    assert agent.get(reverse("contacts:detail", args=[theirs.pk])).status_code == 404
    assert edit(agent, theirs, action="details", name="Mine now").status_code == 404
    assert agent.get(reverse("scheduling:contact_appointments", args=[theirs.pk])).status_code == 404
    # Their tag cannot be removed from my contact, their field cannot be written on it.
    assert edit(agent, mine, action="tag_remove", tag_id=their_tag.pk).status_code == 404
    answer = edit(agent, mine, action="details", **{"cf-secret": "x"})
    assert answer.status_code == 422 and "no custom field" in answer.content.decode()
    mine.refresh_from_db()
    assert mine.custom_fields == {}
    admin = client_for(tenant_a.admin)
    assert admin.get(reverse("admin:contacts_customfield_change", args=[their_field.pk])).status_code == 404
    assert "Secret" not in admin.get(reverse("admin:contacts_customfield_changelist")).content.decode()
    assert admin.get(reverse("contacts:list") + "?segment=999999").status_code == 404
    assert admin.get(reverse("contacts:import", args=[999999])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    # The list never shows them.
    assert "Theirs" not in agent.get(reverse("contacts:list")).content.decode()


def test_agent_edits_in_the_panel_and_errors_keep_what_was_typed(tenant_a, client_for):
    services.custom_field_create(organization=tenant_a.org, key="budget", label="Budget", kind="number")
    contact = cf.contact(tenant_a.org, name="Maria")
    agent = client_for(tenant_a.agent)
    answer = edit(agent, contact, action="details", name="Maria S", email="not-an-email", **{"cf-budget": "abc"})
    assert answer.status_code == 422
    text = answer.content.decode()
    assert 'value="Maria S"' in text and "Budget” must be a number" in text
    answer = edit(agent, contact, action="details", name="Maria S", email="m@x.test", lifecycle_stage="customer")
    assert answer.status_code == 200 and "Contact saved." in answer.content.decode()
    answer = edit(agent, contact, action="tag_add", tag="Novo cliente")
    assert "Novo cliente" in answer.content.decode()
    edit(agent, contact, action="consent", opt_in="opted_out", source="agent")
    contact.refresh_from_db()
    assert (contact.name, contact.email, contact.lifecycle_stage, contact.opt_in) == (
        "Maria S",
        "m@x.test",
        "customer",
        "opted_out",
    )
    assert [t.name for t in contact.tags.all()] == ["Novo cliente"]


def test_filters_paginate_and_bulk_acts_on_every_page(tenant_a, client_for, settings):
    org = tenant_a.org
    Contact.objects.bulk_create(
        [Contact(organization=org, name=f"Lead {n:03d}", phone=f"+5511944{n:06d}") for n in range(120)]
        + [Contact(organization=org, name="Customer", phone="+5511933000001", lifecycle_stage="customer")]
    )
    agent = client_for(tenant_a.agent)
    first = agent.get(reverse("contacts:list") + "?stage=lead", **HX_LIST).content.decode()
    assert "120 contacts" in first and "Lead 000" in first and "Lead 050" not in first and 'rel="next"' in first
    third = agent.get(reverse("contacts:list") + "?stage=lead&page=3", **HX_LIST).content.decode()
    assert "Lead 119" in third and 'rel="next"' not in third
    response = agent.post(
        reverse("contacts:bulk"), {"state": "stage=lead", "scope": "all", "action": "tag", "tag": "Promo"}
    )
    assert response.status_code == 302
    assert Tag.objects.get(organization=org, name="Promo").contacts.count() == 120
    ticked = list(
        Contact.objects.filter(organization=org, name__in=["Lead 001", "Customer"]).values_list("pk", flat=True)
    )
    agent.post(reverse("contacts:bulk"), {"state": "", "scope": "selected", "ids": ticked, "action": "opt_out"})
    assert set(Contact.objects.filter(organization=org, opt_in=OptIn.OPTED_OUT).values_list("pk", flat=True)) == set(
        ticked
    )
    refused = agent.post(
        reverse("contacts:bulk"), {"state": "", "scope": "selected", "action": "opt_out"}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 422 and "Tick at least one contact" in refused.content.decode()


def test_export_streams_the_filtered_set_without_formulas(tenant_a, client_for):
    org = tenant_a.org
    services.custom_field_create(organization=org, key="plan", label="Plan", kind="text")
    vip = cf.tag(org, "VIP")
    a = cf.contact(org, name="=HYPERLINK(1)", custom_fields={"plan": "Gold"})
    a.tags.add(vip)
    cf.contact(org, name="Other")
    response = client_for(tenant_a.viewer).get(reverse("contacts:export") + f"?tag={vip.pk}")
    assert response.status_code == 200 and response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["name", "phone", "email"] and rows[0][-1] == "plan"
    assert len(rows) == 2 and rows[1][0] == "'=HYPERLINK(1)" and rows[1][1] == a.phone and rows[1][3] == "VIP"
    assert rows[1][-1] == "Gold"


def test_segments_are_saved_and_applied(tenant_a, client_for):
    org = tenant_a.org
    cf.contact(org, name="Ana", lifecycle_stage="customer")
    cf.contact(org, name="Bia")
    agent = client_for(tenant_a.agent)
    response = agent.post(reverse("contacts:segment-save"), {"name": "Customers", "state": "stage=customer"})
    assert response.status_code == 302
    segment = Segment.objects.get(organization=org, name="Customers")
    assert segment.filters == {"lifecycle_stages": ["customer"]}
    page = agent.get(reverse("contacts:list") + f"?segment={segment.pk}").content.decode()
    assert "Ana" in page and "Bia" not in page
    again = agent.post(
        reverse("contacts:segment-save"), {"name": "Customers", "state": "stage=customer"}, HTTP_HX_REQUEST="true"
    )
    assert again.status_code == 422 and "no other segment" in again.content.decode()


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("contacts:list") + "?consent=unknown", **HX_LIST)
    assert response.status_code == 200
    return len(captured)


def test_the_list_runs_the_same_queries_at_10_and_1000_contacts(tenant_a, client_for):
    org = tenant_a.org
    CustomField.objects.create(organization=org, key="plan", label="Plan")
    tag = cf.tag(org, "t")

    def add(start, count):
        rows = Contact.objects.bulk_create(
            [Contact(organization=org, name=f"C {start + n}", phone=f"+5511922{start + n:06d}") for n in range(count)]
        )
        Contact.tags.through.objects.bulk_create([Contact.tags.through(contact=c, tag=tag) for c in rows])

    agent = client_for(tenant_a.agent)
    add(0, 10)
    small = _list_queries(agent)
    add(10, 990)
    assert _list_queries(agent) == small
