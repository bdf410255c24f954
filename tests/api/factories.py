"""Row builders of outbound webhooks for the generic admin tenant-isolation tests."""

from __future__ import annotations

from notifications.webhooks import services
from notifications.webhooks.models import WebhookDelivery, WebhookEndpoint


def _endpoint(org) -> WebhookEndpoint:
    return services.endpoint_create(organization=org, url="https://93.184.216.34/pytake", events=["contact.created"])


def _delivery(org) -> WebhookDelivery:
    endpoint = _endpoint(org)
    return services.deliveries_create(
        organization_id=org.pk, event_type="contact.created", data={"contact_id": 1}, endpoints=[endpoint]
    )[0]


TENANT_ROW_BUILDERS = {WebhookEndpoint: _endpoint, WebhookDelivery: _delivery}
