"""The inbox's outreach: sending an approved WhatsApp template in a conversation, and starting one.

``template_picker`` renders the picker for a conversation (``#template-picker``): the approved
templates of its number, the chosen template's variables (pre-filled from the contact where the
name says what they are), and a live preview. ``template_send`` posts it. ``start`` is the page
for a new conversation with a contact (from the contact panel) or a phone number.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import ACTING_ROLES
from accounts.tenancy import role_required
from conversations import message_templates, selectors, services
from conversations.inbox import selectors as inbox_selectors
from conversations.inbox.views import _acting_conversation, _after_action
from conversations.models import ChannelKind, TemplateStatus

TEMPLATE = "conversations/inbox/outreach.html"
# Variables whose name says they hold the contact's name are pre-filled with it (and the body's
# first positional variable, by the common convention "Olá {{1}}").
NAME_VARIABLES = {"name", "first_name", "customer_name", "nome", "cliente"}


def _approved_templates(organization, channel):
    if channel is None or channel.kind != ChannelKind.WHATSAPP:
        return []
    return list(selectors.template_list(organization=organization, channel=channel, status=TemplateStatus.APPROVED))


def _chosen(templates, value):
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return next((t for t in templates if t.pk == pk), None)


def _values_from(post, template) -> dict[str, str]:
    refs = [v.ref for v in message_templates.template_variables(template)]
    return {ref: post.get(f"v:{ref}", "") for ref in refs}


def _prefilled(template, contact) -> dict[str, str]:
    first_name = (contact.name or "").split(" ")[0] if contact is not None else ""
    values = {}
    for variable in message_templates.template_variables(template):
        component, _dot, name = variable.ref.partition(".")
        is_name = name in NAME_VARIABLES or variable.ref == "body.1"
        values[variable.ref] = first_name if component in ("header", "body") and is_name else ""
    return values


def _fields(template, values: dict[str, str]) -> list[dict]:
    return [
        {"ref": v.ref, "label": v.label, "example": v.example, "value": values.get(v.ref, "")}
        for v in message_templates.template_variables(template)
    ]


def _picker_context(request, *, templates, template, values, contact, errors=(), **extra) -> dict:
    preview = message_templates.template_preview(template=template, values=values) if template else ""
    return {
        "templates": templates,
        "template": template,
        "fields": _fields(template, values) if template else [],
        "preview": preview,
        "errors": list(errors),
        "contact": contact,
        **extra,
    }


@require_http_methods(["GET", "POST"])
@role_required(*ACTING_ROLES)
def template_picker(request, conversation_id: int):
    """GET: the picker (``?template=`` chooses); POST with ``preview``: the preview for typed values."""
    conversation = _acting_conversation(request, conversation_id)
    data = request.POST if request.method == "POST" else request.GET
    templates = _approved_templates(request.organization, conversation.channel)
    template = _chosen(templates, data.get("template"))
    values = _values_from(data, template) if template and request.method == "POST" else {}
    if template and not any(values.values()):
        values = _prefilled(template, conversation.contact)
    context = _picker_context(
        request, templates=templates, template=template, values=values, contact=conversation.contact
    )
    context.update(conversation=conversation, state=data.get("state", ""))
    partial = "preview" if data.get("preview") else "picker"
    return render(request, f"{TEMPLATE}#{partial}", context)


@require_POST
@role_required(*ACTING_ROLES)
def template_send(request, conversation_id: int):
    conversation = _acting_conversation(request, conversation_id)
    templates = _approved_templates(request.organization, conversation.channel)
    template = _chosen(templates, request.POST.get("template"))
    if template is None:
        return _after_action(request, conversation, error=_("Choose an approved template of this number."))
    try:
        services.template_message_send(
            conversation=conversation,
            author=request.membership,
            template=template,
            values=_values_from(request.POST, template),
        )
    except ValidationError as error:
        return _after_action(request, conversation, error=" ".join(error.messages))
    return _after_action(request, conversation, notice=_("Template sent."))


def _whatsapp_channels(organization):
    return [
        c for c in selectors.channel_list(organization=organization) if c.kind == ChannelKind.WHATSAPP and c.is_active
    ]


@require_http_methods(["GET", "POST"])
@role_required(*ACTING_ROLES)
def start(request):
    """Start a conversation: an existing contact (``?contact=``) or a phone number, a number, a template."""
    organization = request.organization
    data = request.POST if request.method == "POST" else request.GET
    contact = None
    if data.get("contact"):
        contact = selectors.contact_get(organization=organization, contact_id=data.get("contact"))
        if contact is None:
            raise Http404("contact")
    channels = _whatsapp_channels(organization)
    channel = next(
        (c for c in channels if str(c.pk) == str(data.get("channel", ""))), channels[0] if channels else None
    )
    templates = _approved_templates(organization, channel)
    template = _chosen(templates, data.get("template"))
    values = _values_from(data, template) if template and request.method == "POST" else {}
    if template and not any(values.values()):
        values = _prefilled(template, contact)
    if request.method == "POST" and data.get("preview") and template is not None:
        preview = message_templates.template_preview(template=template, values=values)
        return render(request, f"{TEMPLATE}#preview", {"preview": preview})
    errors: list[str] = []
    if request.method == "POST" and data.get("send"):
        if template is None:
            errors.append(_("Choose an approved template of this number."))
        else:
            try:
                conversation = services.conversation_start(
                    organization=organization,
                    author=request.membership,
                    channel=channel,
                    template=template,
                    values=values,
                    contact=contact,
                    phone=data.get("phone", ""),
                    name=data.get("name", ""),
                )
            except ValidationError as error:
                errors.extend(error.messages)
            else:
                target = f"{reverse('inbox:index')}?c={conversation.pk}"
                if request.htmx:
                    response = render(request, f"{TEMPLATE}#started", {"target": target})
                    response["HX-Redirect"] = target
                    return response
                return HttpResponseRedirect(target)
    context = _picker_context(
        request,
        templates=templates,
        template=template,
        values=values,
        contact=contact,
        errors=errors,
        channels=channels,
        channel=channel,
        phone=data.get("phone", ""),
        name=data.get("name", ""),
        can_act=inbox_selectors.can_act(request.membership),
    )
    status = 422 if errors else 200
    if request.htmx and request.htmx.target == "start-form":
        return render(request, f"{TEMPLATE}#start-form", context, status=status)
    return render(request, TEMPLATE, context, status=status)
