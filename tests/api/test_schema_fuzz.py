"""Schema-driven fuzzing of the whole API with schemathesis, against a live server.

Every operation of ``/api/v1/schema/`` gets a bounded number of generated requests — valid ones
with the ids of real rows, invalid ones (negative mode) with any ids — sent over HTTP to the
live server with an org admin's token. Each answer must not be a 5xx and must match the schema
(status code documented, body and content type as declared).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services as account_services
from accounts.roles import Role
from notifications import services as notification_services
from notifications.webhooks import services as webhook_services
from pytake.api.principal import SCOPES
from pytake.events import Event, dispatch
from tests import factories
from tests.campaigns import builders
from tests.conversations import factories as cf
from tests.scheduling import factories as sf

EXAMPLES = 6
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _seed():
    org = factories.organization(name="Fuzz Org", slug="fuzz")
    admin = factories.member(org, Role.ORG_ADMIN, email="admin@fuzz.test").user
    channel = cf.channel(org)
    conversation = cf.conversation(org, channel=channel)
    template = builders.approved_template(org, channel)
    campaign = builders.campaign(org, admin, channel=channel, template=template)
    provider = sf.provider(org, role=Role.ORG_ADMIN)
    service = sf.service(org, providers=[provider])
    appointment = sf.appointment(org, svc=service, prov=provider)
    tag = cf.tag(org)
    endpoint = webhook_services.endpoint_create(
        organization=org, url="https://hooks.example.com/pytake", events=["contact.created"]
    )
    dispatch(Event("contact.created", org.pk, {"contact_id": conversation.contact_id}))
    delivery = endpoint.deliveries.first()
    notification_services.notify(organization=org, event_type="custom", recipients=[admin], context={"message": "hi"})
    notification = admin.notification_logs.filter(channel="in_app").first()
    _row, token = account_services.api_token_create(
        organization=org, user=admin, name="fuzz", scopes=list(SCOPES), rate_limit_per_minute=100_000
    )
    ids = {
        "/api/v1/contacts/": conversation.contact_id,
        "/api/v1/conversations/": conversation.pk,
        "/api/v1/templates/": template.pk,
        "/api/v1/campaigns/": campaign.pk,
        "/api/v1/scheduling/services/": service.pk,
        "/api/v1/scheduling/appointments/": appointment.pk,
        "/api/v1/webhooks/endpoints/": endpoint.pk,
        "/api/v1/webhooks/deliveries/": delivery.pk if delivery else 1,
        "/api/v1/notifications/": notification.pk if notification else 1,
        "/api/v1/tags/": tag.pk,
    }
    return token, ids


def _real_id(path: str, ids: dict) -> int | None:
    for prefix, pk in ids.items():
        if path.startswith(prefix) and "{id}" in path:
            return pk
    return None


@pytest.mark.slow
def test_every_operation_answers_within_its_schema(live_server, transactional_db, settings_override):
    token, ids = _seed()
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/?format=json")
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    for operation in operations:
        real = _real_id(operation.path, ids)
        modes = [(GenerationMode.POSITIVE, {"id": real} if real else None), (GenerationMode.NEGATIVE, None)]
        for mode, path_parameters in modes:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                response = case.call(base_url=live_server.url, headers=headers, timeout=30)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                run()
            except BaseException as error:  # noqa: BLE001 (collected, reported together below)
                for found in getattr(error, "exceptions", [error]):
                    summary = " ".join(str(found).split())[:300]
                    failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {summary}")
    unique = sorted(set(failures))
    assert not unique, f"{len(unique)} failures:\n" + "\n".join(unique[:60])


@pytest.fixture
def settings_override(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # generated URLs are not looked up in DNS
    settings.API_RATE_LIMIT_PER_MINUTE = 100_000
    return settings
