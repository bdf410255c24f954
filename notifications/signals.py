"""Connects anymail's ``tracking`` signal (ESP webhooks under /webhooks/email/) to the log."""

from anymail.signals import tracking
from django.dispatch import receiver


@receiver(tracking, dispatch_uid="notifications.tracking")
def on_tracking_event(sender, event, esp_name, **kwargs):
    from notifications import services

    services.notification_tracking_update(
        provider_message_id=event.message_id or "",
        event_type=event.event_type,
        description=event.description or event.mta_response or "",
        at=event.timestamp,
    )
