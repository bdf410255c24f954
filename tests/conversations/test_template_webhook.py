"""Template status and quality changes arriving on the signed WhatsApp webhook (live server)."""

from __future__ import annotations

import pytest

from conversations.models import WhatsAppTemplate
from tests.conversations import factories as cf
from tests.conversations.test_webhook import post

pytestmark = pytest.mark.django_db(transaction=True)

WABA = "102290129340398"


def template_change(field, value, *, waba=WABA):
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "time": 1750000000, "changes": [{"value": value, "field": field}]}],
    }


def status_change(event, template, *, reason="NONE", waba=WABA, by_id=True):
    value = {
        "event": event,
        "message_template_id": int(template.provider_id) if by_id else 0,
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": reason,
    }
    return template_change("message_template_status_update", value, waba=waba)


def quality_change(template, new, previous="GREEN", *, waba=WABA):
    value = {
        "previous_quality_score": previous,
        "new_quality_score": new,
        "message_template_id": int(template.provider_id),
        "message_template_name": template.name,
        "message_template_language": template.language,
    }
    return template_change("message_template_quality_update", value, waba=waba)


def pending(org, channel, name="appointment_reminder", provider_id="572279198452421"):
    """A template as Meta has it under review (what a submit leaves)."""
    template = cf.whatsapp_template(org, channel, name=name)
    WhatsAppTemplate.objects.filter(pk=template.pk).update(status="pending", provider_id=provider_id)
    template.refresh_from_db()
    return template


@pytest.fixture
def channel(tenant_a):
    return cf.channel(tenant_a.org, business_account_id=WABA)


def test_status_updates_are_applied_approved_then_rejected_with_the_reason(live_server, channel, tenant_a):
    template = pending(tenant_a.org, channel)
    response = post(live_server, channel, status_change("APPROVED", template))
    assert response.status_code == 200, response.text
    assert response.json()["templates_updated"] == 1
    template.refresh_from_db()
    assert (template.status, template.rejected_reason) == ("approved", "")

    response = post(live_server, channel, status_change("PAUSED", template))
    template.refresh_from_db()
    assert template.status == "paused"
    response = post(live_server, channel, status_change("REJECTED", template, reason="INCORRECT_CATEGORY"))
    assert response.json()["templates_updated"] == 1
    template.refresh_from_db()
    assert (template.status, template.rejected_reason) == ("rejected", "INCORRECT_CATEGORY")
    # The same event again changes nothing (Meta retries deliveries).
    response = post(live_server, channel, status_change("REJECTED", template, reason="INCORRECT_CATEGORY"))
    assert response.json()["templates_updated"] == 0 and response.json()["ignored"] == 1
    post(live_server, channel, status_change("PENDING_DELETION", template))
    template.refresh_from_db()
    assert template.status == "disabled"


def test_status_update_found_by_name_and_language_when_the_id_is_unknown(live_server, channel, tenant_a):
    template = cf.whatsapp_template(tenant_a.org, channel, name="welcome")
    WhatsAppTemplate.objects.filter(pk=template.pk).update(status="pending")
    payload = status_change("APPROVED", template, by_id=False)
    payload["entry"][0]["changes"][0]["value"]["message_template_id"] = 777
    assert post(live_server, channel, payload).json()["templates_updated"] == 1
    template.refresh_from_db()
    assert (template.status, template.provider_id) == ("approved", "777")


def test_quality_update_is_applied(live_server, channel, tenant_a):
    template = pending(tenant_a.org, channel)
    response = post(live_server, channel, quality_change(template, "YELLOW"))
    assert response.status_code == 200 and response.json()["templates_updated"] == 1
    template.refresh_from_db()
    assert template.quality_rating == "yellow"
    post(live_server, channel, quality_change(template, "RED", previous="YELLOW"))
    template.refresh_from_db()
    assert template.quality_rating == "red"


def test_an_event_for_another_business_account_changes_nothing(live_server, channel, tenant_a, tenant_b):
    """The URL names one channel: events only reach templates of that channel's business account."""
    other_waba = "200000000000001"
    foreign_channel = cf.channel(tenant_b.org, business_account_id=other_waba)
    foreign = pending(tenant_b.org, foreign_channel, provider_id="999")
    own = pending(tenant_a.org, channel, provider_id="999")  # same id: only the WABA tells them apart

    # Signed for A's channel, but naming B's business account: refused silently, nothing changes.
    response = post(live_server, channel, status_change("APPROVED", foreign, waba=other_waba))
    assert response.status_code == 200 and response.json()["templates_updated"] == 0
    # Signed for A's channel naming A's account: only A's template changes, never B's.
    response = post(live_server, channel, status_change("DISABLED", own))
    assert response.json()["templates_updated"] == 1
    foreign.refresh_from_db()
    own.refresh_from_db()
    assert (foreign.status, own.status) == ("pending", "disabled")
    response = post(live_server, channel, quality_change(foreign, "RED", waba=other_waba))
    foreign.refresh_from_db()
    assert foreign.quality_rating == "unknown"


def test_a_template_event_with_a_bad_signature_changes_nothing(live_server, channel, tenant_a):
    template = pending(tenant_a.org, channel)
    response = post(live_server, channel, status_change("APPROVED", template), secret="not-the-secret")
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.status == "pending"


@pytest.mark.parametrize(
    "value, reason",
    [
        ({"event": "APPROVED"}, "message_template_id is missing"),
        ({"message_template_id": 1, "message_template_name": "x"}, "value.event is missing"),
        ({"event": 5, "message_template_id": 1}, "value.event must be a string"),
    ],
)
def test_malformed_template_events_are_400(live_server, channel, value, reason):
    response = post(live_server, channel, template_change("message_template_status_update", value))
    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_a_quality_event_without_a_score_is_400(live_server, channel):
    value = {"message_template_id": 1, "message_template_name": "x", "message_template_language": "pt_BR"}
    response = post(live_server, channel, template_change("message_template_quality_update", value))
    assert response.status_code == 400 and "new_quality_score is missing" in response.json()["error"]
