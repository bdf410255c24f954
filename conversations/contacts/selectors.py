"""Reads of the contacts workspace: the filtered list, one contact, custom fields, lead scores, imports.

Every function takes the organization; a contact, field or import of another one is ``None`` (404).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from conversations.campaigns.models import Segment
from conversations.campaigns.selectors import segment_contacts
from conversations.contacts.models import ContactImport, CustomField
from conversations.models import ConsentChange, Contact, Conversation, LifecycleStage, OptIn, Tag

PAGE_SIZE = 50
COUNT_CAP = 10_000
CONSENT_FILTERS = ("opted_in", "opted_out", "unknown", "marketing", "blocked")


def custom_field_list(*, organization: Organization) -> list[CustomField]:
    return list(CustomField.objects.for_organization(organization))


def custom_field_get(*, organization: Organization, field_id) -> CustomField | None:
    try:
        return CustomField.objects.for_organization(organization).filter(pk=int(field_id)).first()
    except (TypeError, ValueError):
        return None


def tag_list(*, organization: Organization) -> list[Tag]:
    return list(Tag.objects.for_organization(organization))


def tag_get(*, organization: Organization, tag_id) -> Tag | None:
    try:
        return Tag.objects.for_organization(organization).filter(pk=int(tag_id)).first()
    except (TypeError, ValueError):
        return None


def segment_list(*, organization: Organization) -> list[Segment]:
    return list(Segment.objects.for_organization(organization))


def segment_get(*, organization: Organization, segment_id) -> Segment | None:
    try:
        return Segment.objects.for_organization(organization).filter(pk=int(segment_id)).first()
    except (TypeError, ValueError):
        return None


def contact_get(*, organization: Organization, contact_id) -> Contact | None:
    try:
        pk = int(contact_id)
    except (TypeError, ValueError):
        return None
    return (
        Contact.objects.for_organization(organization)
        .select_related("organization")
        .prefetch_related("tags")
        .filter(pk=pk)
        .first()
    )


@dataclass
class ContactFilters:
    """The contacts page's filters, as the URL carries them; ``as_segment`` is a ``Segment.filters``."""

    q: str = ""
    tag: int | None = None
    stage: str = ""
    consent: str = ""
    field_key: str = ""
    field_value: str = ""
    last_after: str = ""
    last_before: str = ""
    page: int = 1
    errors: dict = field(default_factory=dict)

    @classmethod
    def from_query(cls, data) -> ContactFilters:
        errors = {}

        def date(name: str) -> str:
            value = (data.get(name) or "").strip()
            if value and parse_date(value) is None:
                errors[name] = _("Use a date such as 2026-03-01.")
                return ""
            return value

        try:
            tag = int(data.get("tag") or 0) or None
        except ValueError:
            tag = None
        try:
            page = max(1, min(int(data.get("page") or 1), 10_000))
        except ValueError:
            page = 1
        stage = data.get("stage") or ""
        consent = data.get("consent") or ""
        return cls(
            q=(data.get("q") or "").strip()[:100],
            tag=tag,
            stage=stage if stage in LifecycleStage.values else "",
            consent=consent if consent in CONSENT_FILTERS else "",
            field_key=(data.get("field") or "").strip()[:40],
            field_value=(data.get("value") or "").strip()[:200],
            last_after=date("last_after"),
            last_before=date("last_before"),
            page=page,
            errors=errors,
        )

    @classmethod
    def from_segment(cls, filters: dict) -> ContactFilters:
        tags = filters.get("tags") or []
        stages = filters.get("lifecycle_stages") or []
        custom = filters.get("custom") or {}
        key, value = next(iter(custom.items()), ("", ""))
        return cls(
            q=filters.get("q", ""),
            tag=int(tags[0]) if tags else None,
            stage=stages[0] if stages else "",
            consent=filters.get("consent", "") if filters.get("consent") in CONSENT_FILTERS else "",
            field_key=key,
            field_value=str(value),
            last_after=filters.get("last_contact_after", ""),
            last_before=filters.get("last_contact_before", ""),
        )

    def as_query(self, **changes) -> dict[str, str]:
        values = {
            "q": self.q,
            "tag": str(self.tag or ""),
            "stage": self.stage,
            "consent": self.consent,
            "field": self.field_key,
            "value": self.field_value,
            "last_after": self.last_after,
            "last_before": self.last_before,
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update({key: str(value) for key, value in changes.items()})
        return {key: value for key, value in values.items() if value and not (key == "page" and value == "1")}

    @property
    def active(self) -> bool:
        return bool(self.as_segment())

    def as_segment(self, fields: dict[str, CustomField] | None = None) -> dict:
        filters: dict = {}
        if self.q:
            filters["q"] = self.q
        if self.tag:
            filters["tags"] = [self.tag]
        if self.stage:
            filters["lifecycle_stages"] = [self.stage]
        if self.consent:
            filters["consent"] = self.consent
        if self.field_key and self.field_value:
            value: object = self.field_value
            definition = (fields or {}).get(self.field_key)
            if definition is not None:
                from conversations.contacts.services import custom_value_clean

                try:  # "1.234,5" finds the number 1234.5, "01/03/2026" the date; anything else as typed
                    value = custom_value_clean(definition, self.field_value)
                except ValidationError:
                    value = self.field_value
            filters["custom"] = {self.field_key: value}
        if self.last_after:
            filters["last_contact_after"] = self.last_after
        if self.last_before:
            filters["last_contact_before"] = self.last_before
        return filters


def contact_queryset(*, organization: Organization, filters: ContactFilters) -> QuerySet[Contact]:
    """Every contact the filters select (all pages): what bulk actions and the export act on."""
    fields = {f.key: f for f in custom_field_list(organization=organization)}
    return segment_contacts(organization=organization, filters=filters.as_segment(fields)).order_by(
        "name", "phone", "pk"
    )


@dataclass
class ContactPage:
    contacts: list[Contact]
    page: int
    has_next: bool
    has_previous: bool
    total: int
    total_capped: bool


def contact_page(*, organization: Organization, filters: ContactFilters) -> ContactPage:
    """One page of the filtered list; the total is counted up to ``COUNT_CAP`` (its cost must not grow past it)."""
    contacts = contact_queryset(organization=organization, filters=filters)
    start = (filters.page - 1) * PAGE_SIZE
    rows = list(
        contacts.prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))[
            start : start + PAGE_SIZE + 1
        ]
    )
    total = contacts.values("pk")[: COUNT_CAP + 1].count()
    return ContactPage(
        contacts=rows[:PAGE_SIZE],
        page=filters.page,
        has_next=len(rows) > PAGE_SIZE,
        has_previous=filters.page > 1,
        total=min(total, COUNT_CAP),
        total_capped=total > COUNT_CAP,
    )


def consent_history(*, organization: Organization, contact: Contact, limit: int = 10) -> list[ConsentChange]:
    return list(
        ConsentChange.objects.filter(organization=organization, contact=contact)
        .select_related("by")
        .order_by("-created_at", "-id")[:limit]
    )


def contact_conversations(*, organization: Organization, contact: Contact, limit: int = 10) -> list[Conversation]:
    return list(
        Conversation.objects.for_organization(organization)
        .filter(contact=contact)
        .select_related("queue")
        .order_by("-created_at")[:limit]
    )


# --- Lead score ---------------------------------------------------------------------------------------

STAGE_POINTS = {
    LifecycleStage.SUBSCRIBER: 5,
    LifecycleStage.LEAD: 10,
    LifecycleStage.QUALIFIED: 25,
    LifecycleStage.OPPORTUNITY: 35,
    LifecycleStage.CUSTOMER: 45,
    LifecycleStage.CHURNED: 0,
}


@dataclass
class LeadScore:
    score: int
    factors: list[tuple[str, int]]  # (what, points), in the order they add up


def lead_score(contact: Contact, *, now: dt.datetime | None = None, conversations: int | None = None) -> LeadScore:
    """The contact's lead score (0–100) and how it adds up: stage, consent, recent contact, conversations, email.

    A blocked contact scores 0. ``contact_edit`` and the other panel services store the result.
    """
    if contact.is_blocked:
        return LeadScore(0, [(str(_("Blocked: no score")), 0)])
    now = now or timezone.now()
    factors: list[tuple[str, int]] = [
        (
            str(_("Stage: %(stage)s") % {"stage": contact.get_lifecycle_stage_display()}),
            STAGE_POINTS[contact.lifecycle_stage],
        )
    ]
    if contact.opt_in == OptIn.OPTED_IN:
        factors.append((str(_("Opted in to messages")), 10))
    elif contact.opt_in == OptIn.OPTED_OUT:
        factors.append((str(_("Opted out of messages")), -10))
    if contact.marketing_opt_in:
        factors.append((str(_("Accepts marketing")), 5))
    if contact.last_message_at:
        age = now - contact.last_message_at
        if age <= dt.timedelta(days=7):
            factors.append((str(_("Wrote in the last 7 days")), 20))
        elif age <= dt.timedelta(days=30):
            factors.append((str(_("Wrote in the last 30 days")), 10))
    if conversations is None:  # a caller that knows (an import: none yet) saves the query
        conversations = Conversation.objects.filter(organization_id=contact.organization_id, contact=contact).count()
    if conversations:
        points = min(conversations, 3) * 5
        factors.append((str(_("%(n)d conversation(s)") % {"n": conversations}), points))
    if contact.email:
        factors.append((str(_("Has an email address")), 5))
    score = max(0, min(100, sum(points for _what, points in factors)))
    return LeadScore(score, factors)


# --- Imports ------------------------------------------------------------------------------------------


def import_get(*, organization: Organization, import_id) -> ContactImport | None:
    try:
        return ContactImport.objects.for_organization(organization).filter(pk=int(import_id)).first()
    except (TypeError, ValueError):
        return None


def import_list(*, organization: Organization, limit: int = 10) -> list[ContactImport]:
    return list(ContactImport.objects.for_organization(organization).select_related("created_by")[:limit])
