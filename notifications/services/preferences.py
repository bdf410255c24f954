"""Organization notification settings and each member's preferences."""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import Membership, Organization
from notifications.models import (
    NotificationPreference,
    OrganizationNotificationSettings,
)
from notifications.registry import event_type_get

logger = logging.getLogger(__name__)

HOUR = datetime.timedelta(hours=1)


# --- Organization settings and preferences ------------------------------------------------


@transaction.atomic
def organization_settings_ensure(*, organization: Organization) -> OrganizationNotificationSettings:
    """The organization's notification settings, created with the defaults on first use."""
    org_settings, _created = OrganizationNotificationSettings.objects.get_or_create(organization=organization)
    return org_settings


@transaction.atomic
def organization_settings_update(*, organization: Organization, **fields) -> OrganizationNotificationSettings:
    org_settings = organization_settings_ensure(organization=organization)
    for name, value in fields.items():
        setattr(org_settings, name, value)
    org_settings.full_clean(exclude=["organization"])
    org_settings.save()
    return org_settings


def _preference_from_defaults(
    *, organization: Organization, user, org_settings: OrganizationNotificationSettings
) -> NotificationPreference:
    values = {name: getattr(org_settings, name) for name in NotificationPreference.COPIED_FIELDS}
    values["event_types"] = dict(values["event_types"])
    return NotificationPreference(organization=organization, user=user, **values)


@transaction.atomic
def preference_ensure(*, organization: Organization, user) -> NotificationPreference:
    """The user's preference in ``organization``; a new member starts from the organization's defaults."""
    existing = NotificationPreference.objects.for_organization(organization).filter(user=user).first()
    if existing is not None:
        return existing
    if not Membership.objects.for_organization(organization).filter(user=user).exists():
        raise ValidationError(_("The user is not a member of this organization."))
    org_settings = organization_settings_ensure(organization=organization)
    preference = _preference_from_defaults(organization=organization, user=user, org_settings=org_settings)
    preference.save()
    return preference


PREFERENCE_EDITABLE = set(NotificationPreference.COPIED_FIELDS) | {
    "phone_number",
    "desktop_new_message",
    "desktop_assignment",
    "title_counter",
    "sound",
}


@transaction.atomic
def preference_update(*, preference: NotificationPreference, by=None, **fields) -> NotificationPreference:
    """Change some fields of a preference; raises ``ValidationError`` (per field) on bad values.

    ``by`` is the acting user (the owner on the settings page): the change goes to the audit log.
    """
    unknown = set(fields) - PREFERENCE_EDITABLE
    if unknown:
        raise ValidationError(_("Unknown preference fields: %(names)s") % {"names": ", ".join(sorted(unknown))})
    if "event_types" in fields:
        for name in fields["event_types"]:
            event_type_get(name)
        fields["event_types"] = {**preference.event_types, **fields["event_types"]}
    if "phone_number" in fields:
        fields["phone_number"] = normalize_phone(fields["phone_number"])
    before = audit.stored(preference, fields)
    for name, value in fields.items():
        setattr(preference, name, value)
    preference.full_clean(exclude=["organization", "user"])
    preference.save()
    changes = audit.diff(before, audit.snapshot(preference, list(fields)))
    if by is not None and changes:
        audit.record(
            organization=preference.organization_id,
            actor=by,
            action="notification_preference.updated",
            obj=preference,
            changes=changes,
        )
    return preference


def normalize_phone(value: str) -> str:
    """E.164 or empty; raises ``ValidationError`` with a clear message."""
    import phonenumbers

    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            {"phone_number": _("Enter the number in international format, e.g. +5511987654321.")}
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({"phone_number": _("This is not a valid phone number.")})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
