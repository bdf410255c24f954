"""Every write of the conversations app: contacts, conversations, routing, messages, SLA, templates,
webhook deliveries.

One module per noun (``contacts``, ``conversations``, ``messages``, ``sla``, ``templates``, ``webhooks``); everything public is
re-exported here, so callers write ``from conversations import services`` and
``services.message_send(...)``. Each function is atomic, checks tenancy and input, and dispatches
its domain events (see ``pytake/events.py`` for names and payloads).
"""

from conversations.services.bulk import BULK_ACTIONS, BulkResult, conversation_bulk_apply
from conversations.services.channels import channel_create
from conversations.services.common import clean_body
from conversations.services.consent import (
    consent_keyword_apply,
    contact_set_marketing_consent,
    contact_set_opt_in,
    messaging_settings_ensure,
    messaging_settings_for,
    normalize_keyword,
)
from conversations.services.contacts import (
    contact_create,
    contact_delete,
    contact_get_or_create_by_phone,
    contact_set_blocked,
    contact_update,
    tag_create,
)
from conversations.services.conversations import (
    conversation_archive,
    conversation_archive_idle,
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
from conversations.services.csat import csat_answer_record, csat_survey_send
from conversations.services.labels import conversation_label_add, conversation_label_remove
from conversations.services.mentions import mention_handles, mentions_record
from conversations.services.messages import (
    InboundResult,
    inbound_message_receive,
    message_fetch_media,
    message_send,
    message_send_automatic,
    message_status_update,
    note_add,
)
from conversations.services.outreach import conversation_start, template_may_reach, template_message_send
from conversations.services.sla import SLA_CHECKS, sla_sweep
from conversations.services.snooze import conversation_snooze, conversation_wake, snooze_wake_due
from conversations.services.templates import (
    TemplateSyncResult,
    template_create,
    template_is_submittable,
    template_quality_update,
    template_status_update,
    template_submit,
    template_sync,
)
from conversations.services.webhooks import (
    webhook_deliveries_relay,
    webhook_delivery_process,
    webhook_delivery_store,
)

__all__ = [
    "BULK_ACTIONS",
    "BulkResult",
    "conversation_bulk_apply",
    "csat_answer_record",
    "csat_survey_send",
    "conversation_label_add",
    "conversation_label_remove",
    "mention_handles",
    "mentions_record",
    "conversation_snooze",
    "conversation_wake",
    "snooze_wake_due",
    "conversation_start",
    "template_may_reach",
    "template_message_send",
    "SLA_CHECKS",
    "InboundResult",
    "TemplateSyncResult",
    "channel_create",
    "clean_body",
    "contact_create",
    "contact_get_or_create_by_phone",
    "contact_set_blocked",
    "contact_set_opt_in",
    "contact_set_marketing_consent",
    "consent_keyword_apply",
    "messaging_settings_ensure",
    "messaging_settings_for",
    "normalize_keyword",
    "message_send_automatic",
    "contact_delete",
    "contact_update",
    "conversation_archive",
    "conversation_archive_idle",
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
    "message_fetch_media",
    "message_send",
    "message_status_update",
    "note_add",
    "sla_sweep",
    "tag_create",
    "template_create",
    "template_is_submittable",
    "template_quality_update",
    "template_status_update",
    "template_submit",
    "template_sync",
    "webhook_deliveries_relay",
    "webhook_delivery_process",
    "webhook_delivery_store",
]
