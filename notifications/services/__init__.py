"""Every write of the notifications app. Start here.

- ``preferences``: the organization's notification settings and each member's preferences.
- ``notify``: staff notifications — ``notify()`` decides, per recipient × channel, whether to send
  now, defer or not send, and leaves one outbox row for every decision.
- ``outbox``: the one outbox every outbound delivery goes through (staff, contacts, systems):
  ``outbox_enqueue()``, the claim → send → record path ``notification_deliver()``, the retry
  policy and the relay. Read its docstring for the delivery guarantees.
- ``center``: the in-app notification center, resending, provider tracking, the test notification.

Everything public is re-exported here: callers write ``from notifications import services``.
"""

from notifications.services.center import (
    RESENDABLE,
    TRACKING_STATUS,
    notification_mark_all_read,
    notification_mark_read,
    notification_resend,
    notification_retry_failed,
    notification_send_test,
    notification_tracking_update,
    outbox_provider_status,
)
from notifications.services.notify import (
    REASON_TEXT,
    Decision,
    NotifyItem,
    Reason,
    notify,
    notify_many,
    user_time_zone,
)
from notifications.services.outbox import (
    DeliveryOutcome,
    RelayResult,
    lease_keeper,
    notification_deliver,
    notification_relay,
    outbox_enqueue,
    retry_delay,
)
from notifications.services.preferences import (
    PREFERENCE_EDITABLE,
    normalize_phone,
    organization_settings_ensure,
    organization_settings_update,
    preference_ensure,
    preference_update,
)
from notifications.services.publish import publish_deliveries

__all__ = [
    "PREFERENCE_EDITABLE",
    "REASON_TEXT",
    "RESENDABLE",
    "TRACKING_STATUS",
    "Decision",
    "DeliveryOutcome",
    "Reason",
    "RelayResult",
    "lease_keeper",
    "normalize_phone",
    "notification_deliver",
    "notification_mark_all_read",
    "notification_mark_read",
    "notification_relay",
    "notification_resend",
    "notification_retry_failed",
    "notification_send_test",
    "notification_tracking_update",
    "notify",
    "notify_many",
    "NotifyItem",
    "organization_settings_ensure",
    "organization_settings_update",
    "outbox_enqueue",
    "outbox_provider_status",
    "preference_ensure",
    "preference_update",
    "publish_deliveries",
    "retry_delay",
    "user_time_zone",
]
