"""Builders for campaign tests: an approved template on a WhatsApp number, audiences, a Graph API server."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import Counter

from werkzeug import Response

from conversations.campaigns import services
from conversations.campaigns.models import Campaign, CampaignRecipient
from conversations.models import TemplateStatus, WhatsAppTemplate
from notifications import services as notification_services
from notifications.models import NotificationLog, Status
from tests.conversations import factories as cf

_seq = itertools.count(1)

COMPONENTS = [
    {"type": "BODY", "text": "Olá {{1}}, temos uma oferta: {{2}}.", "example": {"body_text": [["Ana", "10% off"]]}},
]
MAPPING = {"body.1": {"source": "contact", "field": "first_name"}, "body.2": {"source": "value", "value": "10% off"}}


def approved_template(org, channel, *, category="marketing") -> WhatsAppTemplate:
    template = cf.services.template_create(
        channel=channel, name=f"promo_{next(_seq)}", language="pt_BR", components=COMPONENTS, category=category
    )
    WhatsAppTemplate.objects.filter(pk=template.pk).update(status=TemplateStatus.APPROVED)
    template.refresh_from_db()
    return template


def consenting_contact(org, *, marketing: bool = True, blocked: bool = False, **fields):
    """A contact (through the services) with marketing consent unless told otherwise."""
    from conversations.services import consent
    from conversations.services.contacts import contact_set_blocked

    contact = cf.contact(org, **fields)
    if marketing:
        contact = consent.contact_set_marketing_consent(contact=contact, granted=True)
    if blocked:
        contact = contact_set_blocked(contact=contact, blocked=True)
    return contact


def campaign(org, admin, *, channel=None, template=None, category="marketing", **fields) -> Campaign:
    channel = channel or cf.channel(org)
    template = template or approved_template(org, channel, category=category)
    values = {
        "name": f"Campaign {next(_seq)}",
        "channel": channel,
        "template": template,
        "variable_mapping": MAPPING,
        "messages_per_minute": 0,
    }
    values.update(fields)
    return services.campaign_create(organization=org, by=admin, **values)


def deliver_all(campaign_: Campaign) -> Counter:
    """Run the outbox's claim → send → record for every pending row of the campaign (what the task does)."""
    outcomes = Counter()
    for _round in range(5):
        ids = list(
            NotificationLog.objects.filter(metadata__campaign_id=campaign_.pk, status=Status.PENDING).values_list(
                "pk", flat=True
            )
        )
        if not ids:
            break
        for log_id in ids:
            outcomes[notification_services.notification_deliver(log_id=log_id).status] += 1
    return outcomes


def run_to_end(campaign_: Campaign, *, now=None, rounds: int = 50) -> None:
    """Dispatch and deliver until the campaign finishes (no throttle in these tests)."""
    for _round in range(rounds):
        result = services.campaign_dispatch(campaign_id=campaign_.pk, now=now)
        deliver_all(campaign_)
        if result.finished or result.waiting_for not in ("", "outcomes", "outbox"):
            break
    campaign_.refresh_from_db()


def statuses(campaign_: Campaign) -> dict[int, tuple[str, str]]:
    return {r.contact_id: (r.status, r.reason) for r in CampaignRecipient.objects.filter(campaign=campaign_)}


class GraphServer:
    """Answers the Graph ``messages`` endpoint like Meta; counts each recipient's sends. Phones in
    ``refuse`` get a 400 (a permanent failure)."""

    def __init__(self, httpserver):
        self.httpserver = httpserver
        self.lock = threading.Lock()
        self.sent: Counter = Counter()
        self.refuse: set[str] = set()
        httpserver.expect_request(re.compile(r"^/v21\.0/[0-9]+/messages$"), method="POST").respond_with_handler(
            self.handle
        )

    def handle(self, request):
        body = json.loads(request.data)
        to = body.get("to", "")
        with self.lock:
            if to in self.refuse:
                return Response(
                    json.dumps({"error": {"code": 131026, "message": "Message undeliverable"}}),
                    status=400,
                    content_type="application/json",
                )
            self.sent[to] += 1
            n = sum(self.sent.values())
        return Response(
            json.dumps({"messages": [{"id": f"wamid.test{n}-{to}"}]}), status=200, content_type="application/json"
        )
