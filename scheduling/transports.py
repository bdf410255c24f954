"""The outbox's sender of customer appointment emails (``scheduling.email``)."""

from __future__ import annotations

from notifications.adapters import EmailAdapter, PermanentDeliveryError
from notifications.transports import transport
from scheduling.models import Appointment


@transport("scheduling.email")
class AppointmentEmailTransport:
    """Builds the email from the appointment when it is sent (current manage link, the ``.ics``) and
    sends it over the outbox's kept-open email connection."""

    def send(self, row) -> str:
        from scheduling.notifications import build_customer_email

        if not row.recipient:
            raise PermanentDeliveryError("the customer has no email address")
        try:
            message = build_customer_email(row)
        except Appointment.DoesNotExist:
            raise PermanentDeliveryError("the appointment no longer exists") from None
        return EmailAdapter().send_message(message, fallback_id=row.message_id_header)
