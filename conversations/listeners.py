"""Listeners of the conversations app, loaded by ``pytake.events.load_listeners``."""

from conversations.inbox import listeners  # noqa: F401  (realtime fan-out to the inbox tabs)
from pytake.events import IN_TRANSACTION, Event, listener  # noqa: E402


@listener("conversation.closed", phase=IN_TRANSACTION)
def send_csat_survey(event: Event) -> None:
    """The satisfaction survey goes out with the close (or not at all, if the close rolls back)."""
    from conversations.models import Conversation
    from conversations.services.csat import csat_survey_send

    conversation = (
        Conversation.objects.filter(organization_id=event.organization_id, pk=event.payload.get("conversation_id"))
        .select_related("organization", "queue", "channel", "contact")
        .first()
    )
    if conversation is not None:
        csat_survey_send(conversation=conversation)
