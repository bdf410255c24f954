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
    return clean_text(text)[:MESSAGE_BODY_MAX_LENGTH]


def clean_text(text: str | None) -> str:
    """Text a person wrote, as stored: no NUL characters, line breaks as ``\\n``, no surrounding blank lines, never cut."""
    return (text or "").replace("\x00", "").replace("\r\n", "\n").strip()


def refuse_over_limit(text: str, *, limit: int, channel_name: str | None = None) -> None:
    """A person's text longer than ``limit`` is refused with the limit, never cut and acknowledged.

    ``channel_name``: the channel a reply goes out on; ``None`` for an internal note.
    """
    if len(text) <= limit:
        return
    values = {"limit": limit, "length": len(text), "channel": channel_name}
    if channel_name is None:
        message = _("A note can have at most %(limit)d characters; this one has %(length)d. Shorten it.")
    else:
        message = _(
            "A message on %(channel)s can have at most %(limit)d characters; this one has %(length)d. "
            "Shorten it or split it in two."
        )
    raise ValidationError(message % values, code="too_long")


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
