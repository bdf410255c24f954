"""Contacts and tags."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.limits import plan_limit_check, usage_increment
from accounts.models import Organization, User
from conversations.models import (
    Contact,
    LifecycleStage,
    OptIn,
    Tag,
    normalize_phone,
)
from conversations.services.common import _emit, _same_org


@transaction.atomic
def tag_create(*, organization: Organization, name: str, color: str = "#64748b") -> Tag:
    tag = Tag(organization=organization, name=name.strip(), color=color)
    tag.full_clean()
    tag.save()
    return tag


def shorten_contact_name(name: str) -> str:
    """``name`` cut to the contact name column (for names typed elsewhere, e.g. a WhatsApp profile)."""
    return (name or "").strip()[: Contact._meta.get_field("name").max_length].strip()


@transaction.atomic
def contact_create(
    *,
    organization: Organization,
    name: str = "",
    phone: str = "",
    email: str = "",
    tags: list[Tag] | tuple = (),
    lifecycle_stage: str = LifecycleStage.LEAD,
    opt_in: str = OptIn.UNKNOWN,
    lead_score: int = 0,
    custom_fields: dict | None = None,
    enforce_plan_limit: bool = True,
) -> Contact:
    """Create a contact; emits ``contact.created``.

    The plan's contact limit is enforced for contacts added by people
    (``accounts.limits.plan_limit_check``). Contacts created by an inbound message pass
    ``enforce_plan_limit=False``: a customer's message is never lost over a billing limit. Every
    contact counts in the month's ``contacts_created``.
    """
    if enforce_plan_limit:
        plan_limit_check(organization=organization, resource="contacts")
    contact = Contact(
        organization=organization,
        name=name.strip(),
        phone=normalize_phone(phone) if phone else "",
        email=email.strip().lower(),
        lifecycle_stage=lifecycle_stage,
        opt_in=opt_in,
        lead_score=lead_score,
        custom_fields=custom_fields or {},
        opt_in_changed_at=timezone.now() if opt_in != OptIn.UNKNOWN else None,
    )
    contact.full_clean()
    contact.save()
    usage_increment(organization=organization, field="contacts_created")
    for tag in tags:
        _same_org(tag, organization.pk, _("tag"))
    contact.tags.set(tags)
    _emit("contact.created", organization.pk, contact_id=contact.pk)
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, by: User | None = None, **fields) -> Contact:
    """Change a contact's editable fields (name, phone, email, lifecycle_stage, lead_score, custom_fields, tags).

    ``by`` is the acting user: the change is written to the audit log with each field's before/after.
    """
    editable = {"name", "phone", "email", "lifecycle_stage", "lead_score", "custom_fields", "tags"}
    unknown = set(fields) - editable
    if unknown:
        raise ValidationError(
            _("These contact fields cannot be changed here: %(fields)s") % {"fields": ", ".join(sorted(unknown))}
        )
    before = audit.stored(contact, fields)
    tags = fields.pop("tags", None)
    if fields.get("phone"):
        fields["phone"] = normalize_phone(fields["phone"])
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.full_clean()
    contact.save()
    if tags is not None:
        for tag in tags:
            _same_org(tag, contact.organization_id, _("tag"))
        contact.tags.set(tags)
    changes = audit.diff(before, audit.snapshot(contact, list(before)))
    if changes:
        audit.record(
            organization=contact.organization_id, actor=by, action="contact.updated", obj=contact, changes=changes
        )
    return contact


@transaction.atomic
def contact_set_blocked(*, contact: Contact, blocked: bool, by: User | None = None) -> Contact:
    if by is not None and contact.is_blocked != blocked:
        audit.record(
            organization=contact.organization_id,
            actor=by,
            action="contact.blocked" if blocked else "contact.unblocked",
            obj=contact,
            changes={"is_blocked": [contact.is_blocked, blocked]},
        )
    contact.is_blocked = blocked
    contact.save(update_fields=["is_blocked", "updated_at"])
    return contact


def contact_get_or_create_by_phone(*, organization: Organization, phone: str, name: str = "") -> tuple[Contact, bool]:
    """The organization's contact with ``phone`` (E.164 after normalizing), created if new.

    Safe under concurrency: a concurrent creation of the same phone loses on the unique
    constraint inside a savepoint and reads the winner's row. ``name`` comes from outside (a
    WhatsApp profile name, a booking form) and is shortened to fit rather than refused: the
    message or booking that brought it is never lost over a long name.
    """
    name = shorten_contact_name(name)
    phone = normalize_phone(phone)
    existing = Contact.objects.for_organization(organization).filter(phone=phone).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return contact_create(organization=organization, phone=phone, name=name, enforce_plan_limit=False), True
    except (IntegrityError, ValidationError):
        existing = Contact.objects.for_organization(organization).filter(phone=phone).first()
        if existing is None:
            raise
        return existing, False


@transaction.atomic
def contact_delete(*, contact: Contact, by: User | None = None) -> None:
    """Delete a contact with its conversations and messages (an erasure request); audited."""
    audit.record(
        organization=contact.organization_id,
        actor=by,
        action="contact.deleted",
        obj=contact,
        metadata={"phone": contact.phone, "email": contact.email},
    )
    contact.delete()
