"""Whether a customer's appointment message can go over WhatsApp, and the rendered template if so.

WhatsApp first: the organization picks an approved utility template per message kind (scheduling
settings). Email is the fallback when the contact has no phone, opted out, or the template is
missing, not approved or cannot be filled in; the reason is returned so the outbox row records
the choice. The template is rendered here, before any row is written: a variable left empty is a
reason to fall back, never a message stuck in "sending".

Variables come from the settings' mapping for the kind, else by convention: a variable named like
an appointment or contact field (``customer_name``, ``service``, ``starts_at``, ``first_name`` …),
or numbered ``1`` = customer name, ``2`` = service, ``3`` = date and time, ``4`` = provider. Quick-reply
buttons reading Confirm/Confirmar or Cancel/Cancelar carry the signed payloads of ``scheduling.buttons``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from conversations import message_templates
from conversations.models import ChannelKind, OptIn, TemplateCategory, TemplateStatus
from scheduling import buttons, links
from scheduling.models import Appointment

POSITIONAL_DEFAULTS = {"1": "customer_name", "2": "service", "3": "starts_at", "4": "provider_name"}
CONFIRM_WORDS = {"confirm", "confirmar", "confirmo", "sim", "yes"}
CANCEL_WORDS = {"cancel", "cancelar", "nao", "não", "no"}


@dataclass(frozen=True)
class WhatsAppPlan:
    phone: str
    payload: dict  # for the outbox's ``whatsapp.direct`` transport: channel_id and the Graph message
    text: str  # the rendered message as the customer reads it
    template_name: str


def appointment_sources(appointment: Appointment) -> dict[str, dict]:
    """The ``appointment`` source of template variables, with the contact's sources."""
    sources = message_templates.contact_sources(appointment.contact) if appointment.contact else {}
    sources["appointment"] = {
        "customer_name": appointment.customer_name,
        "first_name": (appointment.customer_name or "").split(" ")[0],
        "service": appointment.service.name,
        "starts_at": appointment.start,
        "ends_at": appointment.end,
        "date": appointment.start.astimezone(appointment.organization.tzinfo).date(),
        "time": appointment.start.astimezone(appointment.organization.tzinfo).time(),
        "provider_name": appointment.provider.get_full_name(),
        "organization": appointment.organization.name,
        "manage_url": links.manage_url(appointment),
        "confirm_payload": buttons.button_payload(appointment, buttons.CONFIRM),
        "cancel_payload": buttons.button_payload(appointment, buttons.CANCEL),
    }
    return sources


def default_mapping(template, sources: dict[str, dict]) -> dict[str, dict]:
    """The conventional mapping (see the module docstring) for the template's variables and buttons."""
    mapping: dict[str, dict] = {}
    appointment_fields = sources.get("appointment", {})
    for variable in message_templates.template_variables(template):
        component, _dot, name = variable.ref.partition(".")
        if component not in ("header", "body"):
            continue
        field = POSITIONAL_DEFAULTS.get(name, name)
        if field in appointment_fields:
            mapping[variable.ref] = {"source": "appointment", "field": field}
    for ref in message_templates.quick_reply_payload_refs(template):
        index = int(ref.split(".")[1])
        text = _button_text(template, index)
        if text in CONFIRM_WORDS:
            mapping[ref] = {"source": "appointment", "field": "confirm_payload"}
        elif text in CANCEL_WORDS:
            mapping[ref] = {"source": "appointment", "field": "cancel_payload"}
    return mapping


def _button_text(template, index: int) -> str:
    for component in template.components if isinstance(template.components, list) else []:
        if str(component.get("type", "")).upper() == "BUTTONS":
            found = (component.get("buttons") or [])[index : index + 1]
            return str(found[0].get("text", "")).strip().lower() if found else ""
    return ""


def plan(appointment: Appointment, *, kind: str) -> tuple[WhatsAppPlan | None, str]:
    """``(plan, "")`` when the message goes over WhatsApp, else ``(None, why not)``."""
    from scheduling import availability

    contact = appointment.contact
    if contact is None or not contact.phone:
        return None, _("the contact has no phone number")
    if contact.opt_in == OptIn.OPTED_OUT:
        return None, _("the contact opted out of WhatsApp messages")
    rules = availability.settings_for(appointment.organization)
    template = rules.template_for(kind) if rules.pk else None
    if template is None:
        return None, _("no WhatsApp template is chosen for this message")
    if template.status != TemplateStatus.APPROVED:
        return None, _("the WhatsApp template “%(name)s” is not approved (%(status)s)") % {
            "name": template.name,
            "status": template.get_status_display(),
        }
    if template.category == TemplateCategory.MARKETING and not contact.marketing_opt_in:
        return None, _("the template is a marketing one and the contact gave no marketing consent")
    channel = template.channel
    if channel is None or not channel.is_active or channel.kind != ChannelKind.WHATSAPP:
        return None, _("the template's WhatsApp number is not active")
    with translation.override(appointment.organization.locale), timezone.override(appointment.organization.tzinfo):
        sources = appointment_sources(appointment)
        mapping = (rules.whatsapp_variables or {}).get(kind) or default_mapping(template, sources)
        try:
            values = message_templates.resolve_values(template=template, mapping=mapping, sources=sources)
            rendered = message_templates.template_render(template=template, values=values)
        except ValidationError as error:
            return None, _("the WhatsApp template could not be filled in: %(errors)s") % {
                "errors": " ".join(error.messages)
            }
    return (
        WhatsAppPlan(
            phone=contact.phone,
            payload={"channel_id": channel.pk, "message": {"type": "template", "template": rendered.graph_template}},
            text=rendered.text,
            template_name=f"{template.name} ({template.language})",
        ),
        "",
    )
