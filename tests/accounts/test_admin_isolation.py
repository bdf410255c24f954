"""The tenant-scoped admin: an org admin of A never sees, reaches or writes B's rows."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import Department, Membership, Organization, Queue, User
from accounts.tenant_admin import TenantScopedAdmin
from tests import factories

BUILDERS = factories.tenant_row_builders()
TENANT_ADMINS = [
    model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, TenantScopedAdmin)
]


def _url(model, action, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def test_every_tenant_admin_has_a_row_builder():
    missing = [m.__name__ for m in TENANT_ADMINS if m not in BUILDERS]
    assert not missing, f"add a builder to tests/BUILDERS for {missing}"


def test_only_accounts_and_known_apps_escape_tenant_scoping():
    """Every admin-registered model either is tenant-scoped or is superuser-only (no tenant data)."""
    unscoped = {
        f"{m._meta.app_label}.{m.__name__}"
        for m, ma in admin.site._registry.items()
        if not isinstance(ma, TenantScopedAdmin)
    }
    superuser_only_apps = {"auth", "django_celery_beat", "axes"}
    assert {label.split(".")[0] for label in unscoped} <= superuser_only_apps, unscoped


@pytest.mark.django_db
@pytest.mark.parametrize("model", TENANT_ADMINS, ids=lambda m: m.__name__)
def test_foreign_rows_are_404_and_invisible(model, tenant_a, tenant_b, client_for):
    build = BUILDERS[model]
    own = build(tenant_a.org)
    foreign = build(tenant_b.org)
    client = client_for(tenant_a.admin)

    model_admin = admin.site._registry[model]
    may_delete = model_admin.has_delete_permission(_request_for(tenant_a.admin, tenant_a.org))
    for action in ("change", "delete", "history"):
        response = client.get(_url(model, action, foreign.pk))
        assert response.status_code == 404, (action, response.status_code)
        expected_own = 403 if action == "delete" and not may_delete else 200
        assert client.get(_url(model, action, own.pk)).status_code == expected_own, action

    response = client.get(_url(model, "changelist"))
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert own.pk in shown
    assert foreign.pk not in shown
    # Nothing of B's appears anywhere in the page (names, emails, filter choices).
    assert tenant_b.org.name not in response.content.decode()

    # Deleting B's row through the bulk action is impossible: the queryset never holds it.
    if model is not Organization:
        client.post(
            _url(model, "changelist"),
            {"action": "delete_selected", "_selected_action": [foreign.pk], "post": "yes"},
        )
        assert model.objects.filter(pk=foreign.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("model", TENANT_ADMINS, ids=lambda m: m.__name__)
def test_add_and_change_forms_offer_only_own_choices(model, tenant_a, tenant_b, client_for):
    for org in (tenant_a.org, tenant_b.org):
        for builder_model in (Department, Queue, Membership):
            BUILDERS[builder_model](org)
    own = BUILDERS[model](tenant_a.org)
    client = client_for(tenant_a.admin)
    urls = [_url(model, "change", own.pk)]
    if admin.site._registry[model].has_add_permission(_request_for(tenant_a.admin, tenant_a.org)):
        urls.append(_url(model, "add"))
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        form = response.context["adminform"].form
        assert "organization" not in form.fields
        for name, field in form.fields.items():
            queryset = getattr(field, "queryset", None)
            if queryset is None or not hasattr(queryset.model, "tenant_path"):
                continue
            foreign_rows = queryset.model.objects.for_organization(tenant_b.org).exclude(
                pk__in=queryset.model.objects.for_organization(tenant_a.org)
            )
            leaked = queryset.filter(pk__in=foreign_rows)
            assert not leaked.exists(), (url, name, list(leaked))


def _request_for(user, org):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    request.organization = org
    request.membership = Membership.objects.get(user=user, organization=org)
    return request


@pytest.mark.django_db
def test_autocomplete_lists_only_own_rows(tenant_a, tenant_b, client_for):
    own_dept = factories.department(tenant_a.org, name="Shared Name Support")
    foreign_dept = factories.department(tenant_b.org, name="Shared Name Sales")
    own_member = factories.member(tenant_a.org, email="shared-a@x.test")
    foreign_member = factories.member(tenant_b.org, email="shared-b@x.test")
    client = client_for(tenant_a.admin)

    checks = [
        (
            {"app_label": "accounts", "model_name": "queue", "field_name": "department", "term": "Shared"},
            own_dept,
            foreign_dept,
        ),
        (
            {"app_label": "accounts", "model_name": "membership", "field_name": "user", "term": "shared"},
            own_member.user,
            foreign_member.user,
        ),
    ]
    for params, own, foreign in checks:
        response = client.get(reverse("admin:autocomplete"), params)
        assert response.status_code == 200, params
        ids = {int(result["id"]) for result in response.json()["results"]}
        assert own.pk in ids and foreign.pk not in ids, params


@pytest.mark.django_db
def test_posting_foreign_ids_creates_nothing_in_b(tenant_a, tenant_b, client_for):
    foreign_dept = factories.department(tenant_b.org)
    foreign_user = factories.member(tenant_b.org).user
    client = client_for(tenant_a.admin)

    response = client.post(
        _url(Queue, "add"),
        {
            "department": foreign_dept.pk,
            "name": "Sneaky",
            "color": "#112233",
            "icon": "inbox",
            "priority": 5,
            "sla_warning_percent": 80,
            "routing_strategy": "manual",
            "max_conversations_per_agent": 3,
            "organization": tenant_b.org.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "department" in response.context["adminform"].form.errors
    assert not Queue.objects.filter(name="Sneaky").exists()

    response = client.post(
        _url(Membership, "add"),
        {"user": foreign_user.pk, "role": "agent", "status": "offline", "organization": tenant_b.org.pk},
    )
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert Membership.objects.filter(user=foreign_user).count() == 1

    # A posted organization is ignored: rows an org admin creates belong to their organization.
    response = client.post(
        _url(Department, "add"),
        {"name": "Created by A", "organization": tenant_b.org.pk, "is_active": "on", **_empty_inline("queues")},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    created = Department.objects.get(name="Created by A")
    assert created.organization == tenant_a.org


@pytest.mark.django_db
def test_duplicate_names_in_own_org_are_a_form_error_not_a_500(tenant_a, tenant_b, client_for):
    factories.department(tenant_a.org, name="Support")
    factories.department(tenant_b.org, name="Sales")
    client = client_for(tenant_a.admin)
    response = client.post(_url(Department, "add"), {"name": "support", "is_active": "on", **_empty_inline("queues")})
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() or response.context["adminform"].form.errors
    # The same name in another organization is fine.
    response = client.post(_url(Department, "add"), {"name": "Sales", "is_active": "on", **_empty_inline("queues")})
    assert response.status_code == 302


def _empty_inline(prefix):
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


@pytest.mark.django_db
def test_superuser_sees_every_organization(tenant_a, tenant_b, superuser, client_for):
    client = client_for(superuser)
    response = client.get(_url(Department, "changelist"))
    assert response.status_code == 200
    factories.department(tenant_a.org, name="A dept")
    factories.department(tenant_b.org, name="B dept")
    response = client.get(_url(Department, "changelist"))
    names = {d.name for d in response.context["cl"].result_list}
    assert {"A dept", "B dept"} <= names
    response = client.get(_url(Organization, "changelist"))
    assert {o.pk for o in response.context["cl"].result_list} >= {tenant_a.org.pk, tenant_b.org.pk}


@pytest.mark.django_db
def test_org_admin_cannot_change_plan_or_see_other_orgs(tenant_a, tenant_b, client_for):
    client = client_for(tenant_a.admin)
    response = client.get(_url(Organization, "change", tenant_a.org.pk))
    assert response.status_code == 200
    assert "plan" not in response.context["adminform"].form.fields
    assert client.get(_url(Organization, "add")).status_code == 403


@pytest.mark.django_db
def test_plan_user_limit_refuses_with_a_clear_message(client_for):
    org = factories.organization(name="Tiny", plan="free")
    admin_user = factories.member(org, "org_admin").user
    factories.member(org, "agent")
    factories.member(org, "agent")  # free plan: 3 users
    client = client_for(admin_user)
    response = client.post(
        _url(User, "add"),
        {
            "email": "fourth@tiny.test",
            "full_name": "Fourth",
            "language": "en",
            "role": "agent",
            "usable_password": "false",
            "password1": "",
            "password2": "",
        },
    )
    assert response.status_code == 200
    assert "allows up to 3 users" in response.content.decode()
    assert not User.objects.filter(email="fourth@tiny.test").exists()


@pytest.mark.django_db
def test_org_admin_adds_a_member_with_a_role(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    response = client.post(
        _url(User, "add"),
        {
            "email": "New.Person@Alpha.test",
            "full_name": "New Person",
            "language": "pt-br",
            "role": "viewer",
            "usable_password": "false",
            "password1": "",
            "password2": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.person@alpha.test")
    assert Membership.objects.get(user=user).organization == tenant_a.org
    assert Membership.objects.get(user=user).role == "viewer"


@pytest.mark.django_db
def test_org_admin_cannot_take_over_a_user_shared_with_another_org(tenant_a, tenant_b, client_for):
    shared = factories.member(tenant_a.org, email="shared@x.test").user
    from accounts import services

    services.membership_create(organization=tenant_b.org, user=shared, role="org_admin")
    client = client_for(tenant_a.admin)
    response = client.get(reverse("admin:auth_user_password_change", args=[shared.pk]))
    assert response.status_code == 403
    response = client.get(_url(User, "change", shared.pk))
    assert response.status_code == 200
    assert "email" not in response.context["adminform"].form.fields
    # B's membership of the shared user is not shown inline.
    inline_orgs = {
        f.instance.organization_id for fs in response.context["inline_admin_formsets"] for f in fs.formset.forms
    }
    assert inline_orgs == {tenant_a.org.pk}
