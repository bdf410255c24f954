"""@mentions of teammates in internal notes.

A mention is ``@`` followed by a member's handle: the part of their email before the ``@``
(``@ana`` for ana@acme.example), what the composer's autocomplete inserts. Each member named in a
note is recorded once (``Mention``) and told through ``conversation.mentioned`` (the notifications
app's listener). The author naming themself, unknown handles and members of other organizations
are ignored.
"""

from __future__ import annotations

import re

from accounts.models import Membership
from conversations.models import Mention, Message
from conversations.services.common import _emit

MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9._+-]{0,63})")
MAX_MENTIONS = 20


def handle_for(email: str) -> str:
    return email.split("@", 1)[0].lower()


def mention_handles(text: str) -> list[str]:
    """The handles named in ``text``, lower-cased, in order, without repeats."""
    seen: dict[str, None] = {}
    for match in MENTION_RE.finditer(text or ""):
        seen.setdefault(match.group(1).rstrip(".").lower(), None)
    return list(seen)[:MAX_MENTIONS]


def mentions_record(*, note: Message, author: Membership) -> list[Membership]:
    """Record and announce the members a note names; inside the note's transaction."""
    handles = mention_handles(note.body)
    if not handles:
        return []
    candidates = (
        Membership.objects.for_organization(note.organization_id)
        .filter(user__is_active=True)
        .exclude(pk=author.pk)
        .select_related("user")
    )
    query = None
    for handle in handles:
        term = candidates.filter(user__email__istartswith=f"{handle}@")
        query = term if query is None else query | term
    members = list(query) if query is not None else []
    if not members:
        return []
    Mention.objects.bulk_create(
        [Mention(organization_id=note.organization_id, message=note, membership=member) for member in members],
        ignore_conflicts=True,
    )
    for member in members:
        _emit(
            "conversation.mentioned",
            note.organization_id,
            conversation_id=note.conversation_id,
            message_id=note.pk,
            mentioned_id=member.user_id,
            author_id=author.user_id,
        )
    return members
