"""CSV import: mapping guesses and checks, per-row validation, the report, all-or-nothing writes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conversations.contacts import imports, services
from conversations.contacts.models import ContactImport, ImportStatus
from conversations.models import ConsentChange, Contact, OptIn, Tag
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db

GOOD_AND_BAD = (
    "Nome;Telefone;E-mail;Tags;Plano;Consentimento\n"
    "Ana Lima;+55 11 98765-0001;ana@x.test;vip, novo;Gold;sim\n"
    "Bruno;12345;bruno@x.test;;Gold;\n"
    "Carla;(11) 98765-0003;carla@x.test;novo;Platinum;não\n"
    "Ana again;+5511987650001;;;;\n"
    "Dani;11987650004;dani@;;;\n"
    "\n"
    "Eva;11 98765-0005;;VIP;;talvez\n"
    "Fabi;11987650006;;;Basic;\n"
)


def upload(org, user, text: str, name: str = "contatos.csv") -> ContactImport:
    return imports.import_upload(
        organization=org, by=user, file=SimpleUploadedFile(name, text.encode(), content_type="text/csv")
    )


@pytest.fixture
def plan_field(tenant_a):
    return services.custom_field_create(
        organization=tenant_a.org, key="plan", label="Plano", kind="choice", choices=["Basic", "Gold"]
    )


def run(contact_import: ContactImport, region: str = "BR") -> ContactImport:
    imports.import_start(
        contact_import=contact_import,
        by=contact_import.created_by,
        mapping=contact_import.mapping,
        default_region=region,
    )
    imports.import_run(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    return contact_import


def test_upload_guesses_the_mapping_and_counts_rows(tenant_a, plan_field):
    contact_import = upload(tenant_a.org, tenant_a.agent, GOOD_AND_BAD)
    assert contact_import.header == ["Nome", "Telefone", "E-mail", "Tags", "Plano", "Consentimento"]
    assert contact_import.mapping == {
        "0": "name",
        "1": "phone",
        "2": "email",
        "3": "tags",
        "4": "cf:plan",
        "5": "opt_in",
    }
    assert contact_import.total_rows == 7 and contact_import.status == ImportStatus.UPLOADED


@pytest.mark.parametrize(
    "text, name, message",
    [
        ("", "a.csv", "empty"),
        ("name,phone\n", "a.csv", "no rows"),
        ("name,phone\nx,1\n", "a.xlsx", "CSV file"),
    ],
)
def test_unreadable_uploads_say_why(tenant_a, text, name, message):
    with pytest.raises(ValidationError, match=message):
        upload(tenant_a.org, tenant_a.agent, text, name=name)


def test_the_preview_validates_the_first_rows(tenant_a, plan_field):
    contact_import = upload(tenant_a.org, tenant_a.agent, GOOD_AND_BAD)
    rows = imports.import_preview(contact_import=contact_import, mapping=contact_import.mapping, default_region="BR")
    assert [row.number for row in rows] == [2, 3, 4, 5, 6, 8, 9]  # the blank line 7 is skipped
    assert rows[0].error == "" and rows[0].values["phone"] == "+5511987650001"
    assert rows[1].error.startswith("Telefone: ")  # the file's own column name
    assert "not a choice of “Plano”" in rows[2].error
    assert rows[4].error.startswith("E-mail: ")
    assert Contact.objects.filter(organization=tenant_a.org).count() == 0  # a preview writes nothing


def test_mapping_needs_a_phone_and_each_field_once(tenant_a, plan_field):
    contact_import = upload(tenant_a.org, tenant_a.agent, GOOD_AND_BAD)
    fields = [plan_field]
    with pytest.raises(ValidationError, match="Phone"):
        imports.mapping_clean(contact_import=contact_import, data={"col-0": "name"}, fields=fields)
    with pytest.raises(ValidationError, match="same field"):
        imports.mapping_clean(contact_import=contact_import, data={"col-0": "phone", "col-1": "phone"}, fields=fields)
    with pytest.raises(ValidationError, match="choose what it holds"):
        imports.mapping_clean(
            contact_import=contact_import, data={"col-0": "cf:other", "col-1": "phone"}, fields=fields
        )


def test_valid_rows_are_imported_and_bad_ones_reported(tenant_a, plan_field):
    org = tenant_a.org
    existing = cf.contact(org, name="Fabi Old", phone="+5511987650006", email="fabi@x.test")
    contact_import = run(upload(org, tenant_a.agent, GOOD_AND_BAD))
    assert contact_import.status == ImportStatus.DONE
    assert (contact_import.created_count, contact_import.updated_count, contact_import.rejected_count) == (1, 1, 5)
    reasons = {row["row"]: row["reason"] for row in contact_import.rejected}
    assert set(reasons) == {3, 4, 5, 6, 8}
    # The report is in the language of the person who imported (pt-BR here).
    assert reasons[5] == "Telefone: o mesmo número da linha 2"
    assert reasons[8].startswith("Consentimento: o consentimento deve ser sim ou não")
    ana = Contact.objects.get(organization=org, phone="+5511987650001")
    assert (ana.name, ana.email, ana.custom_fields, ana.opt_in, ana.opt_in_source) == (
        "Ana Lima",
        "ana@x.test",
        {"plan": "Gold"},
        OptIn.OPTED_IN,
        "import",
    )
    assert sorted(t.name for t in ana.tags.all()) == ["novo", "vip"]
    assert ana.lead_score == 10 + 10 + 5  # lead, opted in, an email: as the panel explains it
    assert ConsentChange.objects.get(contact=ana).source == "import"
    existing.refresh_from_db()
    assert existing.name == "Fabi" and existing.email == "fabi@x.test" and existing.custom_fields == {"plan": "Basic"}
    assert imports.progress(contact_import) == 100
    assert contact_import.file.name == ""  # the uploaded file (people's data) is gone; the report stays
    # Running it again changes nothing.
    assert imports.import_run(import_id=contact_import.pk) is None


def test_nothing_is_half_imported_when_the_plan_limit_is_passed(tenant_a, plan_field, settings):
    org = tenant_a.org
    org.plan = "free"
    org.save()
    limit = org.limits.contacts
    Contact.objects.bulk_create(
        [Contact(organization=org, name=f"c{n}", phone=f"+5511966{n:06d}") for n in range(limit - 1)]
    )
    text = "name,phone\n" + "".join(f"New {n},+5511977{n:06d}\n" for n in range(5))
    contact_import = run(upload(org, tenant_a.agent, text))
    assert contact_import.status == ImportStatus.FAILED and "plan allows" in contact_import.error
    assert Contact.objects.filter(organization=org).count() == limit - 1
    assert not Tag.objects.filter(organization=org).exists()


def test_import_pages_and_report(tenant_a, tenant_b, client_for, plan_field):
    agent = client_for(tenant_a.agent)
    page = agent.post(
        reverse("contacts:import-upload"),
        {"file": SimpleUploadedFile("c.csv", GOOD_AND_BAD.encode(), content_type="text/csv")},
    )
    contact_import = ContactImport.objects.get(organization=tenant_a.org)
    assert page.status_code == 302 and page["Location"] == reverse("contacts:import", args=[contact_import.pk])
    url = reverse("contacts:import", args=[contact_import.pk])
    preview = agent.get(
        url, {"col-0": "name", "col-1": "phone", "region": "BR"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="import-body"
    )
    assert preview.status_code == 200 and "+5511987650001" in preview.content.decode()
    refused = agent.post(url, {"col-0": "name", "region": "BR"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="import-body")
    assert refused.status_code == 422 and "Map one column to Phone" in refused.content.decode()
    started = agent.post(
        url, {"col-0": "name", "col-1": "phone", "region": "BR"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="import-body"
    )
    assert started.status_code == 200 and 'id="import-progress"' in started.content.decode()
    imports.import_run(import_id=contact_import.pk)
    done = agent.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="import-progress").content.decode()
    assert "Import finished" in done and 'id="rejected-rows"' in done and "hx-trigger" not in done
    report = agent.get(reverse("contacts:import-rejected", args=[contact_import.pk]))
    assert report.status_code == 200 and "row,phone,reason" in report.content.decode()
    assert client_for(tenant_b.admin).get(url).status_code == 404
    assert (
        client_for(tenant_b.admin).get(reverse("contacts:import-rejected", args=[contact_import.pk])).status_code == 404
    )
    assert client_for(tenant_a.viewer).get(url).status_code == 403
    bad = agent.post(
        reverse("contacts:import-upload"), {"file": SimpleUploadedFile("c.csv", b"", content_type="text/csv")}
    )
    assert bad.status_code == 422
