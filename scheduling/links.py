"""The customer's signed manage link: see, cancel or reschedule without an account.

The token is the appointment's ``public_id`` signed with a ``TimestampSigner`` (salt specific to
this use); it expires after the organization's ``manage_link_max_age_days``. A tampered token
and an expired one are told apart so that the page can say which.
"""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.core import signing
from django.urls import reverse

from scheduling.models import Appointment

SALT = "scheduling.appointment.manage"


class LinkInvalid(Exception):
    pass


class LinkExpired(Exception):
    pass


def manage_token(appointment: Appointment) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(appointment.public_id))


def manage_path(appointment: Appointment) -> str:
    return reverse("scheduling:manage", args=[appointment.organization.slug, manage_token(appointment)])


def manage_url(appointment: Appointment) -> str:
    return settings.SITE_URL.rstrip("/") + manage_path(appointment)


def appointment_from_token(*, organization, token: str, max_age_days: int) -> Appointment:
    """The appointment ``token`` names in ``organization``, following reschedules to the current one."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        value = signer.unsign(token, max_age=datetime.timedelta(days=max_age_days))
    except signing.SignatureExpired as error:
        raise LinkExpired from error
    except signing.BadSignature as error:
        raise LinkInvalid from error
    try:
        public_id = uuid.UUID(value)
    except ValueError as error:
        raise LinkInvalid from error
    appointment = (
        Appointment.objects.for_organization(organization)
        .select_related("organization", "service", "provider", "contact")
        .filter(public_id=public_id)
        .first()
    )
    if appointment is None:
        raise LinkInvalid
    for _hop in range(50):
        successor = (
            Appointment.objects.filter(rescheduled_from=appointment)
            .select_related("organization", "service", "provider", "contact")
            .first()
        )
        if successor is None:
            break
        appointment = successor
    return appointment
