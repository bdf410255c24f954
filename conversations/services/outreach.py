"""Reaching customers first: approved WhatsApp templates in a conversation, and starting conversations.

Outside WhatsApp's 24-hour window only an approved template may be sent; a new conversation always
starts with one. The template is rendered (and every empty or missing variable refused) before
anything is stored, so nothing is ever left queued that cannot be sent. The message goes out
through the outbox like any reply; it is stored with the exact Graph ``template`` object it sends.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.limits import usage_increment
from accounts.models import Membership, Organization
from conversations import message_templates
from conversations.models import (
    AuthorType,
    Channel,
    ChannelKind,
    Contact,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    MessageKind,
    OptIn,
    TemplateCategory,
    WhatsAppTemplate,
    normalize_phone,
)
from conversations.services.common import _acting, _locked, _same_org
from conversations.services.contacts import contact_create
from conversations.services.conversations import conversation_assign, conversation_open
from conversations.services.messages import _agent_message_out


def template_may_reach(*, template: WhatsAppTemplate, contact: Contact, channel: Channel | None) -> None:
    """Refuse, with the reason, a template that may not go to ``contact`` on ``channel``."""
    if channel is None or channel.kind != ChannelKind.WHATSAPP:
        raise ValidationError(_("Templates are sent on WhatsApp channels only."), code="template_channel")
    if template.organization_id != contact.organization_id or template.channel_id != channel.pk:
        raise ValidationError(
            _("The template “%(name)s” belongs to another WhatsApp number.") % {"name": template.name},
            code="template_channel",
        )
    if contact.is_blocked:
        raise ValidationError(_("This contact is blocked; unblock them to message them."), code="contact_blocked")
    if contact.opt_in == OptIn.OPTED_OUT:
        raise ValidationError(_("This contact opted out of messages."), code="contact_opted_out")
    if not contact.phone:
        raise ValidationError(_("The contact has no phone number."), code="no_phone")
    if template.category == TemplateCategory.MARKETING and not contact.marketing_opt_in:
        raise ValidationError(
            _("“%(name)s” is a marketing template and this contact has not agreed to marketing messages.")
            % {"name": template.name},
            code="no_marketing_consent",
        )


@transaction.atomic
def template_message_send(
    *, conversation: Conversation, author: Membership, template: WhatsAppTemplate, values: dict[str, str]
) -> Message:
    """Send ``template`` with ``values`` (refs → text) in ``conversation``: allowed with the window closed."""
    conversation = _locked(conversation)
    _acting(author, conversation.organization_id)
    if not conversation.is_active:
        raise ValidationError(_("Reopen the conversation before replying."), code="not_active")
    contact = conversation.contact
    template_may_reach(template=template, contact=contact, channel=conversation.channel)
    rendered = message_templates.template_render(template=template, values=values)
    usage_increment(organization=conversation.organization, field="messages_sent", enforce_limit=True)
    now = timezone.now()
    message = Message.objects.create(
        organization_id=conversation.organization_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        author_type=AuthorType.AGENT,
        author=author.user,
        kind=MessageKind.TEMPLATE,
        body=rendered.text,
        template_payload=rendered.graph_template,
        delivery_status=DeliveryStatus.QUEUED,
    )
    _agent_message_out(conversation, message, author=author, now=now)
    return message


@transaction.atomic
def conversation_start(
    *,
    organization: Organization,
    author: Membership,
    channel: Channel,
    template: WhatsAppTemplate,
    values: dict[str, str],
    contact: Contact | None = None,
    phone: str = "",
    name: str = "",
) -> Conversation:
    """Start a conversation with an existing contact or a new one (by phone), with a template.

    The contact's active conversation on ``channel`` is reused; otherwise one is opened in the
    channel's default queue and given to the agent who started it.
    """
    _acting(author, organization.pk)
    _same_org(channel, organization.pk, _("channel"))
    if contact is None:
        if not phone.strip():
            raise ValidationError({"phone": _("Choose a contact or enter a phone number.")}, code="phone_required")
        normalized = normalize_phone(phone)
        contact = Contact.objects.for_organization(organization).filter(phone=normalized).first()
        if contact is None:
            contact = contact_create(organization=organization, phone=normalized, name=name.strip())
    _same_org(contact, organization.pk, _("contact"))
    template_may_reach(template=template, contact=contact, channel=channel)
    message_templates.template_render(template=template, values=values)  # refuse before opening anything
    conversation = (
        Conversation.objects.for_organization(organization)
        .filter(contact=contact, channel=channel, status__in=["open", "pending"])
        .first()
    )
    if conversation is None:
        conversation = conversation_open(contact=contact, channel=channel, auto_assign=False)
    if conversation.assignee_id is None:
        conversation = conversation_assign(conversation=conversation, membership=author, by=author.user)
    template_message_send(conversation=conversation, author=author, template=template, values=values)
    conversation.refresh_from_db()
    return conversation
