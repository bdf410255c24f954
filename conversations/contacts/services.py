"""Every write of the contacts workspace: edits from the contact panel, tags, consent, blocking,
custom field definitions, lead scores and bulk actions over a filtered set.

Each change goes through ``conversations.services`` where the contact's own rules live (phone
normalization, consent history, the audit of the acting user) and dispatches ``contact.updated``
after the commit: the inbox tabs showing the contact refresh its panel.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import Organization, User
from conversations import services as conversation_services
from conversations.contacts import selectors
from conversations.contacts.models import CustomField, CustomFieldKind
from conversations.models import ConsentChange, ConsentKind, ConsentSource, Contact, LifecycleStage, OptIn, Tag
from conversations.services.common import _emit, _same_org

TEXT_VALUE_MAX = 500
CHOICES_MAX = 50


def _changed(contact: Contact, *, by: User | None, fields: list[str]) -> None:
    _emit(
        "contact.updated",
        contact.organization_id,
        contact_id=contact.pk,
        by_id=by.pk if by is not None else None,
        fields=sorted(fields),
    )


# --- Custom field definitions -----------------------------------------------------------------------


def _clean_choices(kind: str, choices) -> list[str]:
    if kind != CustomFieldKind.CHOICE:
        return []
    if isinstance(choices, str):
        choices = choices.splitlines()
    cleaned: list[str] = []
    for choice in choices or []:
        value = str(choice).strip()[:80]
        if value and value not in cleaned:
            cleaned.append(value)
    if not cleaned:
        raise ValidationError({"choices": _("A choice field needs at least one choice (one per line).")})
    if len(cleaned) > CHOICES_MAX:
        raise ValidationError({"choices": _("A choice field can have at most %(n)d choices.") % {"n": CHOICES_MAX}})
    return cleaned


@transaction.atomic
def custom_field_create(
    *, organization: Organization, key: str, label: str, kind: str, choices=(), by: User | None = None
) -> CustomField:
    key = (key or "").strip().lower()
    field = CustomField(
        organization=organization,
        key=key,
        label=(label or "").strip(),
        kind=kind,
        choices=_clean_choices(kind, choices),
    )
    field.full_clean()
    field.save()
    audit.record(
        organization=organization.pk,
        actor=by,
        action="contact_field.created",
        obj=field,
        changes={"key": [None, key], "kind": [None, kind]},
    )
    return field


@transaction.atomic
def custom_field_update(*, field: CustomField, by: User | None = None, label=None, choices=None) -> CustomField:
    """The label and (for choice fields) the choices can change; the key and the type cannot (values depend on them)."""
    before = audit.snapshot(field, ["label", "choices"])
    if label is not None:
        field.label = label.strip()
    if choices is not None:
        field.choices = _clean_choices(field.kind, choices)
    field.full_clean()
    field.save()
    changes = audit.diff(before, audit.snapshot(field, ["label", "choices"]))
    if changes:
        audit.record(
            organization=field.organization_id, actor=by, action="contact_field.updated", obj=field, changes=changes
        )
    return field


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


def custom_value_clean(field: CustomField, raw) -> str | int | float | None:
    """``raw`` as stored for ``field`` (``None``: empty), or ``ValidationError`` naming the field.

    Numbers accept a decimal comma (``1,5``); dates ISO (``2026-03-01``) or day first (``01/03/2026``).
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = str(raw).strip()
    if field.kind == CustomFieldKind.TEXT:
        if len(text) > TEXT_VALUE_MAX:
            raise ValidationError(
                _("“%(label)s” can have at most %(n)d characters.") % {"label": field.label, "n": TEXT_VALUE_MAX}
            )
        return text
    if field.kind == CustomFieldKind.NUMBER:
        candidate = text.replace(" ", "")
        if re.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?", candidate):  # 1.234,5
            candidate = candidate.replace(".", "")
        candidate = candidate.replace(",", ".")
        try:
            number = Decimal(candidate)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or abs(number) >= Decimal("1e15"):
            raise ValidationError(_("“%(label)s” must be a number.") % {"label": field.label})
        return int(number) if number == number.to_integral_value() else float(number)
    if field.kind == CustomFieldKind.DATE:
        for pattern in _DATE_FORMATS:
            try:
                return dt.datetime.strptime(text, pattern).date().isoformat()
            except ValueError:
                continue
        raise ValidationError(
            _("“%(label)s” must be a date such as 2026-03-01 (got “%(value)s”).")
            % {"label": field.label, "value": text}
        )
    if text not in field.choices:
        raise ValidationError(
            _("“%(value)s” is not a choice of “%(label)s”: pick one of %(choices)s.")
            % {"value": text, "label": field.label, "choices": ", ".join(field.choices)}
        )
    return text


def custom_values_clean(*, organization: Organization, values: dict, current: dict | None = None) -> dict:
    """``current`` with ``values`` (key → raw) applied and validated against the organization's fields.

    Unknown keys are refused; an empty value removes the key. Errors come back per key.
    """
    fields = {field.key: field for field in selectors.custom_field_list(organization=organization)}
    result = dict(current or {})
    errors = {}
    for key, raw in values.items():
        field = fields.get(key)
        if field is None:
            errors[key] = _("There is no custom field “%(key)s” in this organization.") % {"key": key}
            continue
        try:
            value = custom_value_clean(field, raw)
        except ValidationError as error:
            errors[key] = " ".join(error.messages)
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    if errors:
        raise ValidationError(errors)
    return result


# --- The contact panel -------------------------------------------------------------------------------


@transaction.atomic
def contact_edit(
    *,
    contact: Contact,
    by: User,
    name: str | None = None,
    email: str | None = None,
    lifecycle_stage: str | None = None,
    custom: dict | None = None,
) -> Contact:
    """Change the panel's fields (only those given); audited, then ``contact.updated``."""
    contact = _locked(contact)
    fields: dict = {}
    if name is not None:
        fields["name"] = name.strip()
    if email is not None:
        fields["email"] = email.strip().lower()
    if lifecycle_stage is not None:
        if lifecycle_stage not in LifecycleStage.values:
            raise ValidationError({"lifecycle_stage": _("Choose a lifecycle stage from the list.")})
        fields["lifecycle_stage"] = lifecycle_stage
    if custom:
        fields["custom_fields"] = custom_values_clean(
            organization=contact.organization, values=custom, current=contact.custom_fields
        )
    changed = [key for key, value in fields.items() if getattr(contact, key) != value]
    if not changed:
        return contact
    conversation_services.contact_update(contact=contact, by=by, **{key: fields[key] for key in changed})
    _score_refresh(contact)
    _changed(contact, by=by, fields=changed)
    return contact


def _locked(contact: Contact) -> Contact:
    return Contact.objects.select_for_update(of=("self",)).select_related("organization").get(pk=contact.pk)


def _tag_get_or_create(*, organization: Organization, name: str) -> Tag:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"tag": _("Write the tag's name.")})
    if len(name) > Tag._meta.get_field("name").max_length:
        raise ValidationError({"tag": _("A tag's name can have at most 50 characters.")})
    existing = Tag.objects.for_organization(organization).filter(name__iexact=name).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return conversation_services.tag_create(organization=organization, name=name)
    except ValidationError:
        existing = Tag.objects.for_organization(organization).filter(name__iexact=name).first()
        if existing is None:
            raise
        return existing


@transaction.atomic
def contact_tag_add(*, contact: Contact, by: User, name: str) -> Tag:
    """Tag the contact, creating the tag (case-insensitively unique) on the fly."""
    contact = _locked(contact)
    tag = _tag_get_or_create(organization=contact.organization, name=name)
    if contact.tags.filter(pk=tag.pk).exists():
        return tag
    contact.tags.add(tag)
    audit.record(
        organization=contact.organization_id,
        actor=by,
        action="contact.tagged",
        obj=contact,
        changes={"tags": [None, tag.name]},
        metadata={"tag_id": tag.pk},
    )
    _score_refresh(contact)
    _changed(contact, by=by, fields=["tags"])
    return tag


@transaction.atomic
def contact_tag_remove(*, contact: Contact, by: User, tag: Tag) -> None:
    _same_org(tag, contact.organization_id, _("tag"))
    contact = _locked(contact)
    if not contact.tags.filter(pk=tag.pk).exists():
        return
    contact.tags.remove(tag)
    audit.record(
        organization=contact.organization_id,
        actor=by,
        action="contact.untagged",
        obj=contact,
        changes={"tags": [tag.name, None]},
        metadata={"tag_id": tag.pk},
    )
    _changed(contact, by=by, fields=["tags"])


CONSENT_SOURCES_BY_PEOPLE = (ConsentSource.AGENT, ConsentSource.FORM, ConsentSource.IMPORT, ConsentSource.BOOKING)


@transaction.atomic
def contact_consent_set(
    *, contact: Contact, by: User, opt_in: str, source: str = ConsentSource.AGENT, note: str = ""
) -> Contact:
    """Opt the contact in or out, with where the consent came from (recorded in the consent history)."""
    if opt_in not in OptIn.values:
        raise ValidationError({"opt_in": _("Choose the contact's consent from the list.")})
    if source not in CONSENT_SOURCES_BY_PEOPLE:
        raise ValidationError({"source": _("Choose where the consent came from.")})
    contact = _locked(contact)
    if contact.opt_in == opt_in and contact.opt_in_source == source:
        return contact
    conversation_services.contact_set_opt_in(contact=contact, opt_in=opt_in, source=source, by=by, note=note)
    _score_refresh(contact)
    _changed(contact, by=by, fields=["opt_in"])
    return contact


@transaction.atomic
def contact_block_set(*, contact: Contact, by: User, blocked: bool) -> Contact:
    contact = _locked(contact)
    if contact.is_blocked == blocked:
        return contact
    conversation_services.contact_set_blocked(contact=contact, blocked=blocked, by=by)
    _score_refresh(contact)
    _changed(contact, by=by, fields=["is_blocked"])
    return contact


def _score_refresh(contact: Contact) -> None:
    """Store the lead score its explanation adds up to (``selectors.lead_score``)."""
    score = selectors.lead_score(contact).score
    if score != contact.lead_score:
        contact.lead_score = score
        contact.save(update_fields=["lead_score", "updated_at"])


# --- Bulk actions over a filtered set (every page of it) --------------------------------------------


BULK_BATCH = 2_000


@transaction.atomic
def contacts_bulk_tag(*, organization: Organization, contacts: QuerySet[Contact], by: User, name: str) -> int:
    """Tag every contact of ``contacts`` (a selector's queryset of ``organization``); returns how many were tagged."""
    tag = _tag_get_or_create(organization=organization, name=name)
    through = Contact.tags.through
    ids = contacts.filter(organization=organization).exclude(tags=tag).values_list("pk", flat=True)
    added = 0
    batch: list = []
    for contact_id in ids.iterator(chunk_size=BULK_BATCH):
        batch.append(through(contact_id=contact_id, tag_id=tag.pk))
        if len(batch) >= BULK_BATCH:
            through.objects.bulk_create(batch, ignore_conflicts=True)
            added += len(batch)
            batch = []
    if batch:
        through.objects.bulk_create(batch, ignore_conflicts=True)
        added += len(batch)
    audit.record(
        organization=organization.pk,
        actor=by,
        action="contacts.bulk_tagged",
        obj=tag,
        changes={},
        metadata={"tag": tag.name, "contacts": added},
    )
    return added


@transaction.atomic
def contacts_bulk_untag(*, organization: Organization, contacts: QuerySet[Contact], by: User, tag: Tag) -> int:
    _same_org(tag, organization.pk, _("tag"))
    through = Contact.tags.through
    removed, _detail = through.objects.filter(
        tag=tag, contact__in=contacts.filter(organization=organization).values("pk")
    ).delete()
    audit.record(
        organization=organization.pk,
        actor=by,
        action="contacts.bulk_untagged",
        obj=tag,
        changes={},
        metadata={"tag": tag.name, "contacts": removed},
    )
    return removed


@transaction.atomic
def contacts_bulk_opt_out(*, organization: Organization, contacts: QuerySet[Contact], by: User, note: str = "") -> int:
    """Opt out every contact of the set that is not already: the consent history gets a row for each."""
    now = timezone.now()
    ids = list(contacts.filter(organization=organization).exclude(opt_in=OptIn.OPTED_OUT).values_list("pk", flat=True))
    for start in range(0, len(ids), BULK_BATCH):
        chunk = ids[start : start + BULK_BATCH]
        Contact.objects.filter(organization=organization, pk__in=chunk).update(
            opt_in=OptIn.OPTED_OUT, opt_in_changed_at=now, opt_in_source=ConsentSource.AGENT, updated_at=now
        )
        ConsentChange.objects.bulk_create(
            ConsentChange(
                organization=organization,
                contact_id=contact_id,
                kind=ConsentKind.MESSAGING,
                value=OptIn.OPTED_OUT,
                source=ConsentSource.AGENT,
                by=by,
                note=(note or _("Bulk opt-out from the contacts page"))[:200],
            )
            for contact_id in chunk
        )
    audit.record(
        organization=organization.pk,
        actor=by,
        action="contacts.bulk_opted_out",
        obj=None,
        changes={},
        metadata={"contacts": len(ids)},
    )
    return len(ids)


def tag_names_normalized(names) -> list[str]:
    """Distinct tag names of a cell (``vip; novo, vip``), in order, case-insensitively."""
    seen, result = set(), []
    for raw in re.split(r"[;,|]", names or ""):
        name = " ".join(raw.split())[:50]
        if name and name.lower() not in seen:
            seen.add(name.lower())
            result.append(name)
    return result


def tags_ensure(*, organization: Organization, names: list[str]) -> dict[str, Tag]:
    """The organization's tags by lowercased name, creating the missing ones."""
    wanted = {name.lower(): name for name in names}
    found = {
        tag.lname: tag
        for tag in Tag.objects.for_organization(organization).annotate(lname=Lower("name")).filter(lname__in=wanted)
    }
    missing = [Tag(organization=organization, name=wanted[key]) for key in wanted if key not in found]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        found = {
            tag.lname: tag
            for tag in Tag.objects.for_organization(organization).annotate(lname=Lower("name")).filter(lname__in=wanted)
        }
    return found
