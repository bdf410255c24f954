"""Consent: opt-in and opt-out with their time and source, marketing consent, inbound keywords.

Every change is recorded as a ``ConsentChange`` (who, what, from where, when) beside the contact's
current state. A customer who writes exactly one of the organization's opt-out keywords (``STOP``,
``PARAR``, ``SAIR``, ``CANCELAR`` by default; any case, accents ignored) is opted out and told so;
an opt-in keyword (``START``, ``VOLTAR``) opts them back in. Quick-reply buttons never count as
keywords (a "Cancelar" button on a reminder cancels the appointment, not the subscription).
Blocked contacts get nothing, not even these answers.
"""

from __future__ import annotations

import string
import unicodedata

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import audit
from conversations.models import (
    ConsentChange,
    ConsentKind,
    ConsentSource,
    Contact,
    Conversation,
    Message,
    MessageKind,
    MessagingSettings,
    OptIn,
)


@transaction.atomic
def contact_set_opt_in(
    *, contact: Contact, opt_in: str, source: str = ConsentSource.AGENT, by=None, note: str = ""
) -> Contact:
    """Set the contact's messaging consent, recording the change with its source."""
    if opt_in not in OptIn.values:
        raise ValidationError(_("Unknown consent value: %(value)s") % {"value": opt_in})
    if source not in ConsentSource.values:
        raise ValidationError(_("Unknown consent source: %(value)s") % {"value": source})
    if by is not None:
        audit.record(
            organization=contact.organization_id,
            actor=by,
            action="contact.opt_in_changed",
            obj=contact,
            changes=audit.diff({"opt_in": contact.opt_in}, {"opt_in": opt_in}),
            metadata={"source": source},
        )
    contact.opt_in = opt_in
    contact.opt_in_changed_at = timezone.now()
    contact.opt_in_source = source
    contact.save(update_fields=["opt_in", "opt_in_changed_at", "opt_in_source", "updated_at"])
    ConsentChange.objects.create(
        organization_id=contact.organization_id,
        contact=contact,
        kind=ConsentKind.MESSAGING,
        value=opt_in,
        source=source,
        by=by,
        note=note[:200],
    )
    return contact


@transaction.atomic
def contact_set_marketing_consent(
    *, contact: Contact, granted: bool, source: str = ConsentSource.AGENT, by=None, note: str = ""
) -> Contact:
    """Grant or withdraw marketing consent (needed for marketing templates, not for utility ones)."""
    if source not in ConsentSource.values:
        raise ValidationError(_("Unknown consent source: %(value)s") % {"value": source})
    if by is not None:
        audit.record(
            organization=contact.organization_id,
            actor=by,
            action="contact.marketing_consent_changed",
            obj=contact,
            changes=audit.diff({"marketing_opt_in": contact.marketing_opt_in}, {"marketing_opt_in": bool(granted)}),
            metadata={"source": source},
        )
    contact.marketing_opt_in = bool(granted)
    contact.marketing_opt_in_changed_at = timezone.now()
    contact.save(update_fields=["marketing_opt_in", "marketing_opt_in_changed_at", "updated_at"])
    ConsentChange.objects.create(
        organization_id=contact.organization_id,
        contact=contact,
        kind=ConsentKind.MARKETING,
        value="granted" if granted else "withdrawn",
        source=source,
        by=by,
        note=note[:200],
    )
    return contact


def messaging_settings_for(organization) -> MessagingSettings:
    """The organization's messaging settings (the defaults when none were saved).

    Read through the organization's reverse relation, so a caller that loaded the organization with
    ``select_related("messaging_settings")`` (the webhook's channel lookup does) pays no query.
    """
    try:
        return organization.messaging_settings
    except MessagingSettings.DoesNotExist:
        return MessagingSettings(organization=organization)


@transaction.atomic
def messaging_settings_ensure(*, organization) -> MessagingSettings:
    settings_row, _created = MessagingSettings.objects.get_or_create(organization=organization)
    return settings_row


_PUNCTUATION = str.maketrans("", "", string.punctuation + "¡¿“”‘’")


def normalize_keyword(text: str) -> str:
    """``" Paràr! "`` → ``"PARAR"``: case, accents, punctuation and surrounding space ignored."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.translate(_PUNCTUATION).upper().split())


def _standard_reply(organization, opted_out: bool) -> str:
    with translation.override(organization.locale):
        if opted_out:
            return _(
                "You will no longer receive messages from %(organization)s. Reply START to receive them again."
            ) % {"organization": organization.name}
        return _("You will receive messages from %(organization)s again. Reply STOP to stop them.") % {
            "organization": organization.name
        }


def consent_keyword_apply(
    *, organization, contact: Contact, conversation: Conversation, message: Message
) -> str | None:
    """If ``message`` is a consent keyword, change the consent and answer; returns the new consent or ``None``.

    Runs inside the inbound message's transaction. Only plain text messages count.
    """
    if message.kind != MessageKind.TEXT or not message.body or len(message.body) > 40:
        return None
    word = normalize_keyword(message.body)
    rules = messaging_settings_for(organization)
    if word in {normalize_keyword(k) for k in rules.opt_out_keywords}:
        new, reply = OptIn.OPTED_OUT, rules.opt_out_reply
    elif word in {normalize_keyword(k) for k in rules.opt_in_keywords}:
        new, reply = OptIn.OPTED_IN, rules.opt_in_reply
    else:
        return None
    contact.organization = organization
    conversation.organization = organization
    contact_set_opt_in(
        contact=contact, opt_in=new, source=ConsentSource.INBOUND_KEYWORD, note=_("Keyword “%(word)s”") % {"word": word}
    )
    if not contact.is_blocked:
        from conversations.services.messages import message_send_automatic

        message_send_automatic(
            conversation=conversation,
            body=reply.strip() or _standard_reply(organization, new == OptIn.OPTED_OUT),
            reason="consent",
        )
    return new
