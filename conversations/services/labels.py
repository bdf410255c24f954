"""Conversation labels: the organization's tags put on a conversation (filterable in the inbox list)."""

from __future__ import annotations

from django.db import transaction

from accounts import audit
from accounts.models import User
from conversations.models import Conversation, Tag
from conversations.services.common import _locked, _same_org


@transaction.atomic
def conversation_label_add(*, conversation: Conversation, tag: Tag, by: User | None = None) -> bool:
    """Put ``tag`` on the conversation; ``False`` when it already had it."""
    _same_org(tag, conversation.organization_id, "label")
    conversation = _locked(conversation)
    if conversation.labels.filter(pk=tag.pk).exists():
        return False
    conversation.labels.add(tag)
    audit.record(
        organization=conversation.organization_id,
        actor=by,
        action="conversation.labelled",
        obj=conversation,
        changes={"labels": [None, tag.pk]},
    )
    return True


@transaction.atomic
def conversation_label_remove(*, conversation: Conversation, tag: Tag, by: User | None = None) -> bool:
    """Take ``tag`` off the conversation; ``False`` when it did not have it."""
    _same_org(tag, conversation.organization_id, "label")
    conversation = _locked(conversation)
    if not conversation.labels.filter(pk=tag.pk).exists():
        return False
    conversation.labels.remove(tag)
    audit.record(
        organization=conversation.organization_id,
        actor=by,
        action="conversation.unlabelled",
        obj=conversation,
        changes={"labels": [tag.pk, None]},
    )
    return True
