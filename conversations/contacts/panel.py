"""The contact panel's context: shown in the inbox pane and on the contact's page, rendered by
``contacts/_panel.html`` (its forms post to ``contacts:edit``, which answers with the panel again)."""

from __future__ import annotations

from accounts.models import Organization
from conversations.contacts import selectors, services
from conversations.models import ConsentSource, Contact, LifecycleStage, OptIn


def panel_context(
    *,
    organization: Organization,
    contact: Contact,
    can_edit: bool,
    notice: str = "",
    error: str = "",
    errors: dict | None = None,
    draft=None,
) -> dict:
    """``draft``: a refused form, whose values come back in the fields next to their errors."""
    fields = selectors.custom_field_list(organization=organization)
    values = contact.custom_fields or {}
    errors = errors or {}
    draft = draft or {}
    return {
        "contact": contact,
        "can_edit": can_edit,
        "custom_fields": [
            (field, draft.get(f"cf-{field.key}", values.get(field.key, "")), errors.get(field.key, ""))
            for field in fields
        ],
        "draft_name": draft.get("name", contact.name),
        "draft_email": draft.get("email", contact.email),
        "all_tags": selectors.tag_list(organization=organization) if can_edit else [],
        "contact_tags": list(contact.tags.all()),
        "score": selectors.lead_score(contact),
        "stages": LifecycleStage.choices,
        "opt_ins": OptIn.choices,
        "consent_sources": [(value, ConsentSource(value).label) for value in services.CONSENT_SOURCES_BY_PEOPLE],
        "panel_notice": notice,
        "panel_error": error,
        "panel_errors": errors,
    }
