"""Bulk actions on the inbox list: one action over many conversations, each through its own service.

Every conversation runs in its own transaction (a refusal of one — already closed, an agent at
capacity — leaves the others done) and the result says which were done and why others were not.
Only org admins and agents may run them; conversations of another organization are never loaded
(their ids count as not found).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization, Queue
from accounts.roles import ACTING_ROLES
from conversations.models import Conversation, Tag
from conversations.services.conversations import (
    conversation_assign,
    conversation_close,
    conversation_set_priority,
    conversation_transfer,
)
from conversations.services.labels import conversation_label_add

BULK_ACTIONS = ("assign", "transfer", "close", "priority", "label")
MAX_BULK = 100


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    not_found: list[int] = field(default_factory=list)


def conversation_bulk_apply(
    *,
    organization: Organization,
    membership: Membership | None,
    conversation_ids: list[int],
    action: str,
    agent: Membership | None = None,
    queue: Queue | None = None,
    priority: str = "",
    label: Tag | None = None,
) -> BulkResult:
    if membership is None or membership.organization_id != organization.pk or membership.role not in ACTING_ROLES:
        raise PermissionDenied(_("Viewers can read conversations but not act on them."))
    if action not in BULK_ACTIONS:
        raise ValidationError(_("Unknown action."), code="bulk_action")
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        raise ValidationError(_("Select at least one conversation."), code="bulk_empty")
    if len(ids) > MAX_BULK:
        raise ValidationError(
            _("Select at most %(max)d conversations at a time.") % {"max": MAX_BULK}, code="bulk_too_many"
        )
    for what, obj in (("agent", agent), ("queue", queue), ("label", label)):
        if obj is not None and obj.organization_id != organization.pk:
            raise ValidationError(_("The %(what)s belongs to another organization.") % {"what": what})
    if action == "assign" and agent is None:
        raise ValidationError(_("Choose an agent of this organization."), code="bulk_agent")
    if action == "transfer" and queue is None and agent is None:
        raise ValidationError(_("Choose a queue or an agent to transfer to."), code="transfer_target")
    if action == "label" and label is None:
        raise ValidationError(_("Choose a label."), code="bulk_label")
    conversations = {
        c.pk: c
        for c in Conversation.objects.for_organization(organization)
        .select_related("queue", "assignee", "organization", "contact", "channel")
        .filter(pk__in=ids)
    }
    result = BulkResult(not_found=[pk for pk in ids if pk not in conversations])
    user = membership.user
    for pk in ids:
        conversation = conversations.get(pk)
        if conversation is None:
            continue
        try:
            if action == "assign":
                conversation_assign(conversation=conversation, membership=agent, by=user)
            elif action == "transfer":
                conversation_transfer(conversation=conversation, by=user, to_queue=queue, to_membership=agent)
            elif action == "close":
                conversation_close(conversation=conversation, by=user)
            elif action == "priority":
                conversation_set_priority(conversation=conversation, priority=priority, by=user)
            else:
                conversation_label_add(conversation=conversation, tag=label, by=user)
        except ValidationError as error:
            result.refused.append((pk, " ".join(error.messages)))
        else:
            result.done.append(pk)
    return result
