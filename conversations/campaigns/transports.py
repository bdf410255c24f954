"""The outbox transport of campaign messages: the direct WhatsApp send, with the recipient row kept in step."""

from __future__ import annotations

from conversations.campaigns.models import Campaign, CampaignStatus
from conversations.transports import DirectWhatsAppTransport
from notifications.adapters import PermanentDeliveryError
from notifications.transports import transport


@transport("campaigns.whatsapp")
class CampaignWhatsAppTransport(DirectWhatsAppTransport):
    """``payload``: as ``whatsapp.direct`` plus ``campaign_id`` and ``recipient_id``.

    A row of a cancelled campaign is not sent (it is recorded as not sent, reason cancelled);
    a paused campaign's rows already in the outbox still go (the backlog is one small batch).
    """

    def send(self, row) -> str:
        from conversations.campaigns.services import CANCELLED_ERROR

        status = Campaign.objects.filter(pk=row.payload.get("campaign_id")).values_list("status", flat=True).first()
        if status == CampaignStatus.CANCELLED:
            raise PermanentDeliveryError(CANCELLED_ERROR)
        return super().send(row)

    def on_outcome(self, row, *, status: str, provider_id: str = "", error: str = "") -> None:
        from conversations.campaigns.services import recipient_outcome

        recipient_outcome(row=row, status=status, provider_id=provider_id, error=error)
