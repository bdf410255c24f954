"""Admin inputs that answered 500: second settings rows, a second active conversation, out-of-range
date drill-downs, and the view-on-site shortcut that must not tell a foreign row from a missing one."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import override_settings
from django.urls import reverse

from conversations.models import Conversation
from notifications.models import OrganizationNotificationSettings
from scheduling.models import SchedulingSettings
from tests.conversations import factories as cf

pytestmark = pytest.mark.django_db


def form_data(form) -> dict:
    """What a browser posts for ``form`` as rendered (its initial values)."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        if value is True:
            data[name] = "on"
        elif isinstance(value, (list, tuple)):
            data[name] = [str(v) for v in value]
        else:
            data[name] = str(value)
    return data


@override_settings(DEBUG=False)
@pytest.mark.parametrize("model", [SchedulingSettings, OrganizationNotificationSettings], ids=lambda m: m.__name__)
def test_the_settings_add_form_saves_once_then_says_the_row_exists(tenant_a, client_for, model):
    client = client_for(tenant_a.admin)
    client.raise_request_exception = False
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    data = form_data(client.get(url).context["adminform"].form)
    first = client.post(url, data)
    assert first.status_code == 302
    assert model.objects.filter(organization=tenant_a.org).count() == 1
    second = client.post(url, data)
    assert second.status_code == 200
    assert "already exists" in " ".join(second.context["adminform"].form.non_field_errors())
    assert model.objects.filter(organization=tenant_a.org).count() == 1


@override_settings(DEBUG=False)
def test_adding_a_second_active_conversation_for_a_contact_is_a_form_error(tenant_a, client_for):
    channel = cf.channel(tenant_a.org)
    existing = cf.conversation(tenant_a.org, channel=channel)
    client = client_for(tenant_a.admin)
    client.raise_request_exception = False
    url = reverse("admin:conversations_conversation_add")
    data = {"contact": existing.contact_id, "channel": channel.pk, "subject": "again", "priority": "medium"}
    for prefix in ("messages", "message_set"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "already has an open conversation on this channel" in " ".join(
        response.context["adminform"].form.non_field_errors()
    )
    assert Conversation.objects.filter(contact=existing.contact).count() == 1
    closed_channel = cf.channel(tenant_a.org)
    response = client.post(url, {**data, "channel": closed_channel.pk})
    assert response.status_code == 302  # another channel: allowed
    assert Conversation.objects.filter(contact=existing.contact).count() == 2


@override_settings(DEBUG=False)
@pytest.mark.parametrize(
    "params",
    [
        "created_at__year=99999",
        "created_at__year=9999",
        "created_at__year=9999&created_at__month=12",
        "created_at__year=9999&created_at__month=12&created_at__day=31",
        "created_at__year=2024&created_at__month=13",
    ],
)
def test_out_of_range_drill_downs_are_incorrect_lookups(tenant_a, superuser, client_for, params):
    cf.conversation(tenant_a.org)
    for user in (tenant_a.admin, superuser):
        client = client_for(user)
        client.raise_request_exception = False
        for model in (Conversation, type(superuser)):
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            response = client.get(f"{url}?{params}")
            assert response.status_code == 302 and response["Location"].endswith("?e=1"), (model, params)
    assert admin.site._registry[Conversation].date_hierarchy == "created_at"


@override_settings(DEBUG=False)
def test_view_on_site_answers_the_same_404_for_a_foreign_row_and_a_missing_one(tenant_a, tenant_b, client_for):
    own = cf.conversation(tenant_a.org)
    foreign = cf.conversation(tenant_b.org)
    content_type = ContentType.objects.get_for_model(Conversation)
    client = client_for(tenant_a.admin)
    client.raise_request_exception = False

    def shortcut(content_type_id, pk):
        response = client.get(reverse("admin:view_on_site", args=[content_type_id, pk]))
        # Pages differ only by their CSRF tokens (masked anew for every response) and the path they echo.
        return response.status_code, re.sub(
            r'(X-CSRFToken": "|name="csrfmiddlewaretoken" value="|name="next" value=")[^"]+',
            "",
            response.content.decode(),
        )

    missing = shortcut(content_type.pk, Conversation.objects.order_by("-pk").first().pk + 1000)
    assert missing[0] == 404
    assert shortcut(content_type.pk, foreign.pk) == missing
    assert shortcut(content_type.pk, "not-a-number") == missing
    assert shortcut(999_999, own.pk) == missing
    assert shortcut(content_type.pk, own.pk)[0] == 404  # conversations have no page outside the admin
