"""What every conversations service shares: events, text cleaning, tenancy and role guards, row locks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.models import Membership
from accounts.roles import ACTING_ROLES
from conversations.models import (
    MESSAGE_BODY_MAX_LENGTH,
    Conversation,
)
from pytake.events import Event, dispatch


def _emit(name: str, organization_id: int, **payload) -> None:
    dispatch(Event(name, organization_id, payload))


def clean_body(text: str | None) -> str:
    """Message text as stored: no NUL characters, no surrounding blank lines, bounded length."""
    return (text or "").replace("\x00", "").strip()[:MESSAGE_BODY_MAX_LENGTH]


def _same_org(obj, organization_id: int, what: str) -> None:
    if obj is not None and obj.organization_id != organization_id:
        raise ValidationError(
            _("The %(what)s belongs to another organization.") % {"what": what}, code="wrong_organization"
        )


def _acting(membership: Membership, organization_id: int) -> None:
    _same_org(membership, organization_id, _("agent"))
    if membership.role not in ACTING_ROLES:
        raise ValidationError(_("Viewers can read conversations but not act on them."), code="viewer_cannot_act")


def _locked(conversation: Conversation) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("queue", "assignee", "organization", "contact", "channel")
        .get(pk=conversation.pk)
    )
