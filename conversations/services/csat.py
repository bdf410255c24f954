"""CSAT: the satisfaction survey a customer gets on WhatsApp when a conversation of a queue with the
survey switched on closes (``Queue.csat_enabled``).

The survey is an interactive *list* message (WhatsApp's reply buttons stop at three; a list carries
the five ratings) sent through the outbox (``whatsapp.direct``). Each row's id is a signed payload
(``csat:<survey>:<score>:<signature>``) that WhatsApp sends back as the ``list_reply`` id. The
customer's answer joins the closed conversation instead of opening a new one
(``csat_survey_for_inbound``); the first rating counts (answered once), then one message within
``COMMENT_WINDOW`` is kept as the comment. A customer who writes something else while the survey
waits for its rating starts a new conversation as usual.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import audit
from conversations.models import ChannelKind, Conversation, CsatStatus, CsatSurvey, Message, MessageKind
from conversations.selectors import service_window
from conversations.services.common import _emit
from conversations.services.conversations import _system_message

logger = logging.getLogger(__name__)

PREFIX = "csat:"
ANSWER_WINDOW = dt.timedelta(hours=24)
COMMENT_WINDOW = dt.timedelta(hours=1)
COMMENT_MAX_LENGTH = 1000
_signer = signing.Signer(salt="pytake.conversations.csat", sep=":")
_DIGIT = re.compile(r"^\s*([1-5])\s*$")


def rating_payload(survey: CsatSurvey, score: int) -> str:
    return _signer.sign(f"csat:{survey.pk}:{score}")


def parse_payload(payload: str) -> tuple[int, int] | None:
    """``(survey id, score)`` from a payload we signed, else ``None``."""
    try:
        value = _signer.unsign(payload or "")
    except signing.BadSignature:
        return None
    parts = value.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in {"1", "2", "3", "4", "5"}:
        return None
    return int(parts[1]), int(parts[2])


def _labels() -> dict[int, tuple[str, str]]:
    return {
        5: (_("5 · Excellent"), _("It could not have been better")),
        4: (_("4 · Good"), _("I am satisfied")),
        3: (_("3 · Okay"), _("It solved it, but could be better")),
        2: (_("2 · Poor"), _("I am not satisfied")),
        1: (_("1 · Very poor"), _("It did not help me")),
    }


def survey_message(survey: CsatSurvey) -> tuple[str, dict]:
    """The survey's text and its Graph ``messages`` body (without ``to``), in the organization's language."""
    organization = survey.organization
    with translation.override(organization.locale):
        text = _("How would you rate the help you got from %(organization)s? Choose a rating from 1 to 5.") % {
            "organization": organization.name
        }
        rows = [
            {"id": rating_payload(survey, score), "title": title[:24], "description": description[:72]}
            for score, (title, description) in _labels().items()
        ]
        body = {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": text},
                "action": {"button": _("Rate")[:20], "sections": [{"title": _("Your rating")[:24], "rows": rows}]},
            },
        }
    return text, body


def csat_survey_send(*, conversation: Conversation) -> CsatSurvey | None:
    """Send the survey for a conversation that just closed, inside the close's transaction.

    Nothing is sent (``None``) when its queue has the survey off, it has no active WhatsApp or console
    channel, the contact is blocked or has no phone, the 24-hour window is closed (a free-form
    message would be refused), or it already had its survey (one per conversation, even reopened).
    """
    from notifications.registry import Channel as NotificationChannel
    from notifications.services import outbox_enqueue

    queue, channel, contact = conversation.queue, conversation.channel, conversation.contact
    if queue is None or not queue.csat_enabled:
        return None
    if channel is None or not channel.is_active or channel.kind not in (ChannelKind.WHATSAPP, ChannelKind.CONSOLE):
        return None
    if contact.is_blocked or not contact.phone:
        return None
    window = service_window(
        organization=conversation.organization, contact=contact, channel=channel, conversation=conversation
    )
    if not window.is_open:
        logger.info("no CSAT survey for conversation %s: the 24-hour window is closed", conversation.pk)
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            survey = CsatSurvey.objects.create(
                organization_id=conversation.organization_id,
                conversation=conversation,
                contact=contact,
                channel=channel,
                agent_id=conversation.assignee_id,
                expires_at=now + ANSWER_WINDOW,
            )
    except IntegrityError:
        return None  # this conversation had its survey already
    survey.organization = conversation.organization
    text, body = survey_message(survey)
    with translation.override(conversation.organization.locale):
        _system_message(conversation, _("Satisfaction survey sent to the customer."))
    outbox_enqueue(
        organization=conversation.organization,
        event_type="csat_survey",
        channel=NotificationChannel.WHATSAPP,
        recipient=contact.phone,
        contact_id=contact.pk,
        transport="whatsapp.direct",
        payload={"channel_id": channel.pk, "message": body},
        message=text,
        metadata={"conversation_id": conversation.pk, "csat_survey_id": survey.pk},
        dedupe_key=f"csat:{conversation.pk}",
    )
    return survey


def csat_survey_for_inbound(
    *, contact, channel, kind: str, body: str, reply_payload: str, now: dt.datetime
) -> CsatSurvey | None:
    """The open survey an inbound message (with no active conversation to join) answers, locked; else ``None``."""
    survey = (
        CsatSurvey.objects.select_for_update(of=("self",))
        .filter(
            contact=contact,
            channel=channel,
            status__in=[CsatStatus.SENT, CsatStatus.RATED],
            expires_at__gt=now,
        )
        .order_by("-sent_at")
        .first()
    )
    if survey is None:
        return None
    if reply_payload:
        parsed = parse_payload(reply_payload)
        return survey if parsed is not None and parsed[0] == survey.pk else None
    if survey.status == CsatStatus.SENT:
        return survey if kind == MessageKind.TEXT and _DIGIT.match(body or "") else None
    return survey if kind == MessageKind.TEXT and (body or "").strip() else None


def csat_answer_record(*, survey: CsatSurvey, message: Message, reply_payload: str = "") -> str:
    """Apply the customer's answer (stored as ``message`` in the closed conversation); returns the outcome.

    ``rated``: the first rating, then the customer is asked for an optional comment; ``commented``;
    ``already_rated``: a second rating changes nothing.
    """
    from conversations.services.messages import message_send_automatic

    now = timezone.now()
    score = None
    if reply_payload:
        parsed = parse_payload(reply_payload)
        score = parsed[1] if parsed else None
    elif survey.status == CsatStatus.SENT:
        match = _DIGIT.match(message.body or "")
        score = int(match.group(1)) if match else None
    conversation = survey.conversation
    organization = conversation.organization
    if score is not None:
        if survey.status != CsatStatus.SENT:
            return "already_rated"
        survey.score, survey.status, survey.rated_at = score, CsatStatus.RATED, now
        survey.expires_at = now + COMMENT_WINDOW
        survey.save(update_fields=["score", "status", "rated_at", "expires_at"])
        audit.record(
            organization=survey.organization_id,
            actor=None,
            action="csat.rated",
            obj=conversation,
            changes={"csat_score": [None, score]},
        )
        _emit(
            "csat.rated",
            survey.organization_id,
            conversation_id=conversation.pk,
            agent_id=conversation.agent_user_id,
            queue_id=conversation.queue_id,
            score=score,
        )
        with translation.override(organization.locale):
            answer = _("Thank you for your rating! If you want to tell us more, reply with a comment in the next hour.")
        message_send_automatic(conversation=conversation, body=answer, reason="csat")
        return "rated"
    survey.comment = (message.body or "").strip()[:COMMENT_MAX_LENGTH]
    survey.status = CsatStatus.COMPLETED
    survey.save(update_fields=["comment", "status"])
    _emit(
        "csat.rated",
        survey.organization_id,
        conversation_id=conversation.pk,
        agent_id=conversation.agent_user_id,
        queue_id=conversation.queue_id,
        score=survey.score,
    )
    with translation.override(organization.locale):
        answer = _("Thank you! Your comment reached our team.")
    message_send_automatic(conversation=conversation, body=answer, reason="csat")
    return "commented"
