"""Every write of the conversations app: contacts, conversations, routing, messages, SLA, webhook deliveries.

One module per noun (``contacts``, ``conversations``, ``messages``, ``sla``, ``webhooks``); everything public is
re-exported here, so callers write ``from conversations import services`` and
``services.message_send(...)``. Each function is atomic, checks tenancy and input, and dispatches
its domain events (see ``pytake/events.py`` for names and payloads).
"""

from conversations.services.common import clean_body
from conversations.services.contacts import (
    contact_create,
    contact_get_or_create_by_phone,
    contact_set_blocked,
    contact_set_opt_in,
    contact_update,
    tag_create,
)
from conversations.services.conversations import (
    conversation_archive,
    conversation_assign,
    conversation_auto_assign,
    conversation_close,
    conversation_open,
    conversation_pull_next,
    conversation_reopen,
    conversation_set_pending,
    conversation_set_priority,
    conversation_transfer,
)
from conversations.services.messages import (
    InboundResult,
    inbound_message_receive,
    message_deliver,
    message_fetch_media,
    message_send,
    message_status_update,
    note_add,
)
from conversations.services.sla import SLA_CHECKS, sla_sweep
from conversations.services.webhooks import (
    webhook_deliveries_relay,
    webhook_delivery_process,
    webhook_delivery_store,
)

__all__ = [
    "SLA_CHECKS",
    "InboundResult",
    "clean_body",
    "contact_create",
    "contact_get_or_create_by_phone",
    "contact_set_blocked",
    "contact_set_opt_in",
    "contact_update",
    "conversation_archive",
    "conversation_assign",
    "conversation_auto_assign",
    "conversation_close",
    "conversation_open",
    "conversation_pull_next",
    "conversation_reopen",
    "conversation_set_pending",
    "conversation_set_priority",
    "conversation_transfer",
    "inbound_message_receive",
    "message_deliver",
    "message_fetch_media",
    "message_send",
    "message_status_update",
    "note_add",
    "sla_sweep",
    "tag_create",
    "webhook_deliveries_relay",
    "webhook_delivery_process",
    "webhook_delivery_store",
]
