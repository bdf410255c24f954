"""Every write of campaigns: create/edit, start (freezing the audience), pause/resume/cancel, dispatch.

**Dispatch** (``campaign_dispatch``) is the only path from recipient rows to the outbox. In one
transaction it locks the campaign row (``SKIP LOCKED``: two dispatches of one campaign never run
together; overlapping Beat ticks, a chained wake-up and a button click share the work), takes at
most what the throttle, the number's messaging tier (its settings row locked, so campaigns on one
number count each other) and the send window allow, and for each recipient writes one outbox row
with the dedupe key ``campaign-<id>:contact-<id>`` and marks the recipient ``enqueued``. A crash
before the commit writes nothing; after it the outbox owns delivery (claim → send → record, with the
relay after a worker is lost). So each recipient is handed over once, and the outbox's at-least-once
delivery is the only duplicate window left. The in-flight backlog is bounded, so a pause takes
effect within one batch.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.limits import usage_increment
from accounts.models import Membership, Organization
from accounts.roles import Role
from conversations.campaigns import selectors
from conversations.campaigns.models import (
    EDITABLE_STATUSES,
    AudienceType,
    Campaign,
    CampaignRecipient,
    CampaignSettings,
    CampaignStatus,
    ChannelCampaignSettings,
    ExclusionReason,
    RecipientStatus,
    Segment,
)
from conversations.campaigns.sending_window import window_next_open
from conversations.message_templates import validate_mapping
from conversations.models import ChannelKind, Contact, TemplateStatus
from notifications import services as notification_services
from notifications.registry import Channel as NotificationChannel
from pytake.events import Event, dispatch

logger = logging.getLogger(__name__)

TRANSPORT = "campaigns.whatsapp"
FREEZE_CHUNK = 2000


def _setting(name: str, default):
    return getattr(settings, name, default)


def batch_size() -> int:
    return _setting("CAMPAIGNS_BATCH_SIZE", 200)


def max_in_flight() -> int:
    return _setting("CAMPAIGNS_MAX_IN_FLIGHT", 400)


# --- Permissions ------------------------------------------------------------------------------


def may_manage(*, organization: Organization, user) -> bool:
    """Org admins (and superusers) manage campaigns; agents when the organization allows; viewers never."""
    if user.is_superuser:
        return True
    role = Membership.objects.filter(organization=organization, user=user).values_list("role", flat=True).first()
    if role == Role.ORG_ADMIN:
        return True
    return role == Role.AGENT and selectors.campaign_settings_for(organization).agents_may_create


def _require_manager(organization: Organization, by) -> None:
    if by is not None and not may_manage(organization=organization, user=by):
        raise PermissionDenied(_("You may not manage campaigns in this organization."))


# --- Settings, segments ---------------------------------------------------------------------------


@transaction.atomic
def campaign_settings_update(*, organization: Organization, **fields) -> CampaignSettings:
    allowed = {"agents_may_create", "frequency_cap_messages", "frequency_cap_days"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    row, _created = CampaignSettings.objects.get_or_create(organization=organization)
    for name, value in fields.items():
        setattr(row, name, value)
    row.full_clean()
    row.save()
    return row


@transaction.atomic
def channel_tier_set(*, channel, messaging_tier: int) -> ChannelCampaignSettings:
    row, _created = ChannelCampaignSettings.objects.get_or_create(
        channel=channel, defaults={"organization": channel.organization}
    )
    row.messaging_tier = messaging_tier
    row.full_clean()
    row.save()
    return row


@transaction.atomic
def segment_create(*, organization: Organization, name: str, filters: dict) -> Segment:
    selectors.segment_contacts(organization=organization, filters=filters).exists()  # validates the filters
    segment = Segment(organization=organization, name=name, filters=filters)
    segment.full_clean()
    segment.save()
    return segment


# --- Create and edit ------------------------------------------------------------------------------

EDITABLE_FIELDS = {
    "name",
    "channel",
    "template",
    "variable_mapping",
    "audience_type",
    "tag_match",
    "segment",
    "scheduled_at",
    "messages_per_minute",
    "delay_seconds",
    "send_window_start",
    "send_window_end",
    "failure_threshold_percent",
    "failure_sample",
}


def _check_relations(campaign: Campaign, tags=None, contacts=None) -> None:
    organization = campaign.organization
    errors = {}
    if campaign.channel_id and campaign.channel.organization_id != organization.pk:
        errors["channel"] = _("Choose a number of this organization.")
    elif campaign.channel_id and campaign.channel.kind != ChannelKind.WHATSAPP:
        errors["channel"] = _("Campaigns are sent through a WhatsApp number.")
    if campaign.template_id:
        if campaign.template.organization_id != organization.pk:
            errors["template"] = _("Choose a template of this organization.")
        elif campaign.template.channel_id != campaign.channel_id:
            errors["template"] = _("The template belongs to another number.")
    if campaign.segment_id and campaign.segment.organization_id != organization.pk:
        errors["segment"] = _("Choose a segment of this organization.")
    if tags is not None and any(t.organization_id != organization.pk for t in tags):
        errors["audience_tags"] = _("Choose tags of this organization.")
    if contacts is not None and any(c.organization_id != organization.pk for c in contacts):
        errors["audience_contacts"] = _("Choose contacts of this organization.")
    if campaign.template_id and campaign.variable_mapping:
        try:
            validate_mapping(campaign.template, campaign.variable_mapping)
        except ValidationError as error:
            errors["variable_mapping"] = error.messages
    if errors:
        raise ValidationError(errors)


def _apply(campaign: Campaign, data: dict) -> tuple[list | None, list | None]:
    tags = data.pop("audience_tags", None)
    contacts = data.pop("audience_contacts", None)
    unknown = set(data) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    for name, value in data.items():
        setattr(campaign, name, value)
    return (list(tags) if tags is not None else None), (list(contacts) if contacts is not None else None)


@transaction.atomic
def campaign_create(*, organization: Organization, by, **data) -> Campaign:
    """A draft campaign; ``data``: the fields of ``EDITABLE_FIELDS`` plus ``audience_tags`` / ``audience_contacts``."""
    _require_manager(organization, by)
    campaign = Campaign(organization=organization, created_by=by if by is not None and by.pk else None)
    tags, contacts = _apply(campaign, dict(data))
    campaign.full_clean(exclude=["template"] if campaign.template_id is None else None)
    _check_relations(campaign, tags, contacts)
    campaign.save()
    if tags is not None:
        campaign.audience_tags.set(tags)
    if contacts is not None:
        campaign.audience_contacts.set(contacts)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, by, **data) -> Campaign:
    """Edit a draft or scheduled campaign (only the named fields)."""
    _require_manager(campaign.organization, by)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in EDITABLE_STATUSES:
        raise ValidationError(_("Only draft or scheduled campaigns can be edited."), code="status")
    tags, contacts = _apply(campaign, dict(data))
    campaign.full_clean(exclude=["template"] if campaign.template_id is None else None)
    _check_relations(campaign, tags, contacts)
    campaign.save()
    if tags is not None:
        campaign.audience_tags.set(tags)
    if contacts is not None:
        campaign.audience_contacts.set(contacts)
    return campaign


@transaction.atomic
def campaign_delete(*, campaign: Campaign, by) -> None:
    """Delete a campaign that has not started (a started one keeps its record: cancel it)."""
    _require_manager(campaign.organization, by)
    campaign = _locked(campaign)
    if campaign.status not in EDITABLE_STATUSES:
        raise ValidationError(_("A started campaign cannot be deleted; cancel it instead."), code="status")
    audit.record(organization=campaign.organization_id, actor=by, action="campaign.deleted", obj=campaign)
    campaign.delete()


@transaction.atomic
def campaign_contacts_from_csv(*, campaign: Campaign, by, text: str) -> tuple[int, list[str]]:
    """The custom list from pasted or uploaded CSV (a phone per line, first column): ``(found, not_found)``.

    Only contacts of the organization are picked; numbers that match none are reported.
    """
    import csv
    import io

    from conversations.models import normalize_phone

    phones, unknown = [], []
    for row in csv.reader(io.StringIO(text)):
        value = (row[0] if row else "").strip()
        if not value or value.lower() in ("phone", "telefone"):
            continue
        try:
            phones.append(normalize_phone(value))
        except ValidationError:
            unknown.append(value)
    found = list(Contact.objects.for_organization(campaign.organization).filter(phone__in=phones))
    known = {c.phone for c in found}
    unknown += [p for p in phones if p not in known]
    campaign_update(campaign=campaign, by=by, audience_type=AudienceType.LIST, audience_contacts=found)
    return len(found), unknown


# --- Start, pause, resume, cancel --------------------------------------------------------------


def _locked(campaign: Campaign) -> Campaign:
    return (
        Campaign.objects.select_for_update(of=("self",))
        .select_related("organization", "channel", "template")
        .get(pk=campaign.pk)
    )


def _check_ready(campaign: Campaign) -> None:
    errors = []
    if campaign.template is None:
        errors.append(_("Choose a template."))
    elif campaign.template.status != TemplateStatus.APPROVED:
        errors.append(_("The template “%(name)s” is not approved by Meta.") % {"name": campaign.template.name})
    else:
        try:
            validate_mapping(campaign.template, campaign.variable_mapping, require_all=True)
        except ValidationError as error:
            errors.extend(error.messages)
    if not campaign.channel.is_active:
        errors.append(_("The number “%(name)s” is inactive.") % {"name": campaign.channel.name})
    if errors:
        raise ValidationError(errors, code="not_ready")


def _kick(campaign_id: int) -> None:
    from conversations.campaigns.tasks import dispatch_campaign

    transaction.on_commit(lambda: _publish(dispatch_campaign, campaign_id), robust=True)


def _publish(task, campaign_id: int, eta: datetime.datetime | None = None) -> None:
    try:
        from notifications.tasks import ensure_broker_queue

        ensure_broker_queue()
        task.apply_async(args=[campaign_id], eta=eta)
    except Exception:
        logger.exception("publishing the dispatch of campaign %s failed; the Beat tick picks it up", campaign_id)


@transaction.atomic
def campaign_start(*, campaign: Campaign, by, now: datetime.datetime | None = None) -> Campaign:
    """Start now, or schedule for ``scheduled_at`` when that is in the future."""
    _require_manager(campaign.organization, by)
    now = now or timezone.now()
    campaign = _locked(campaign)
    if campaign.status not in EDITABLE_STATUSES:
        raise ValidationError(_("This campaign has already started."), code="status")
    _check_ready(campaign)
    if campaign.scheduled_at and campaign.scheduled_at > now:
        campaign.status = CampaignStatus.SCHEDULED
        campaign.save(update_fields=["status", "updated_at"])
        return campaign
    _begin(campaign, now)
    return campaign


def _begin(campaign: Campaign, now: datetime.datetime) -> None:
    """Start running: the dispatch task (published on commit) freezes the audience, then sends.

    The person pressing "Start" waits for neither: the worker lists the audience in the first
    dispatch, moments later (exclusions such as the frequency cap are counted at ``started_at``).
    """
    campaign.status = CampaignStatus.RUNNING
    campaign.started_at = now
    campaign.next_send_at = now
    campaign.status_reason = ""
    campaign.waiting_for = "audience"
    campaign.save(update_fields=["status", "started_at", "next_send_at", "status_reason", "waiting_for", "updated_at"])
    _emit("started", campaign)
    _kick(campaign.pk)


def campaign_freeze(*, campaign_id: int) -> int:
    """Freeze a started campaign's audience now if it is not yet (the first dispatch does it too);
    returns the recipient rows written (0 when already frozen or not started)."""
    with transaction.atomic():
        campaign = _locked(Campaign(pk=campaign_id))
        if campaign.audience_frozen_at is not None or campaign.started_at is None:
            return 0
        written = _freeze(campaign)
        campaign.waiting_for = ""
        campaign.save(update_fields=["audience_frozen_at", "waiting_for", "updated_at"])
    return written


def _freeze(campaign: Campaign) -> int:
    """Write the audience into recipient rows, each exclusion with its reason; from then on it is fixed.

    Runs once per campaign, in the caller's transaction holding the campaign's row lock; memory stays
    flat in the audience size (contacts read and rows written in chunks).
    """
    at = campaign.started_at
    blank = selectors.blank_variables_check(campaign)
    chunk: list[CampaignRecipient] = []
    position = 0
    for contact, reason in selectors.audience_iter(campaign=campaign, now=at):
        if not reason and blank(contact):
            reason = ExclusionReason.MISSING_VARIABLES
        position += 1
        chunk.append(
            CampaignRecipient(
                organization_id=campaign.organization_id,
                campaign=campaign,
                contact_id=contact.pk,
                phone=contact.phone[:16],
                position=position,
                status=RecipientStatus.EXCLUDED if reason else RecipientStatus.QUEUED,
                reason=reason,
            )
        )
        if len(chunk) >= FREEZE_CHUNK:
            CampaignRecipient.objects.bulk_create(chunk)
            chunk = []
    CampaignRecipient.objects.bulk_create(chunk)
    campaign.audience_frozen_at = timezone.now()
    logger.info("campaign %s: audience of %d frozen", campaign.pk, position)
    return position


def _emit(name: str, campaign: Campaign, **extra) -> None:
    """``campaign.<name>`` (started, paused, resumed, cancelled, completed, failed) after commit."""
    dispatch(
        Event(
            f"campaign.{name}",
            campaign.organization_id,
            {"campaign_id": campaign.pk, "status": str(campaign.status), **extra},
        )
    )


@transaction.atomic
def campaign_pause(*, campaign: Campaign, by, reason: str = "") -> Campaign:
    _require_manager(campaign.organization, by)
    campaign = _locked(campaign)
    if campaign.status != CampaignStatus.RUNNING:
        raise ValidationError(_("Only a running campaign can be paused."), code="status")
    campaign.status = CampaignStatus.PAUSED
    campaign.status_reason = reason or (_("Paused by %(user)s.") % {"user": by} if by else "")
    campaign.save(update_fields=["status", "status_reason", "updated_at"])
    _emit("paused", campaign, reason="manual")
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign, by, now: datetime.datetime | None = None) -> Campaign:
    _require_manager(campaign.organization, by)
    campaign = _locked(campaign)
    if campaign.status != CampaignStatus.PAUSED:
        raise ValidationError(_("Only a paused campaign can be resumed."), code="status")
    campaign.status = CampaignStatus.RUNNING
    campaign.status_reason = ""
    campaign.next_send_at = now or timezone.now()
    campaign.save(update_fields=["status", "status_reason", "next_send_at", "updated_at"])
    _emit("resumed", campaign)
    _kick(campaign.pk)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, by, now: datetime.datetime | None = None) -> Campaign:
    """Stop for good: recipients not yet handed to the outbox are marked not sent (cancelled)."""
    _require_manager(campaign.organization, by)
    campaign = _locked(campaign)
    if campaign.status not in (*EDITABLE_STATUSES, CampaignStatus.RUNNING, CampaignStatus.PAUSED):
        raise ValidationError(_("This campaign has already finished."), code="status")
    campaign.recipients.filter(status=RecipientStatus.QUEUED).update(
        status=RecipientStatus.SKIPPED, reason=ExclusionReason.CANCELLED
    )
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = now or timezone.now()
    campaign.status_reason = _("Cancelled by %(user)s.") % {"user": by} if by else ""
    campaign.save(update_fields=["status", "finished_at", "status_reason", "updated_at"])
    _emit("cancelled", campaign)
    return campaign


# --- Dispatch -------------------------------------------------------------------------------------


@dataclass
class DispatchResult:
    handed_over: int = 0
    skipped: int = 0
    waiting_for: str = ""
    wake_at: datetime.datetime | None = None
    locked: bool = False
    finished: bool = False


def _wake(campaign: Campaign, at: datetime.datetime, now: datetime.datetime, result: DispatchResult) -> None:
    """Schedule the next dispatch at ``at`` unless one is already due before it."""
    from conversations.campaigns.tasks import dispatch_campaign

    result.wake_at = at
    if campaign.wake_at is not None and now < campaign.wake_at <= at:
        return
    campaign.wake_at = at
    campaign_id = campaign.pk
    transaction.on_commit(lambda: _publish(dispatch_campaign, campaign_id, eta=at), robust=True)


def _tier_budget(campaign: Campaign, now: datetime.datetime) -> tuple[int | None, datetime.datetime | None]:
    """How many more contacts the number may reach now (``None``: unlimited), and when room frees up.

    Locks the number's settings row: campaigns on one number take their share one after another.
    """
    row, _created = ChannelCampaignSettings.objects.get_or_create(
        channel=campaign.channel, defaults={"organization_id": campaign.organization_id}
    )
    row = ChannelCampaignSettings.objects.select_for_update().get(pk=row.pk)
    if not row.messaging_tier:
        return None, None
    left = row.messaging_tier - selectors.tier_used(channel=campaign.channel, now=now)
    if left > 0:
        return left, None
    return 0, selectors.tier_frees_at(channel=campaign.channel, now=now)


def campaign_dispatch(*, campaign_id: int, now: datetime.datetime | None = None) -> DispatchResult:
    """Hand the next batch of a running campaign to the outbox; safe to call any number of times."""
    now = now or timezone.now()
    result = DispatchResult()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization", "channel", "template")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None:
            result.locked = True
            return result
        if campaign.status != CampaignStatus.RUNNING:
            return result
        _dispatch(campaign, now, result)
        campaign.waiting_for = result.waiting_for
        campaign.save(
            update_fields=[
                "next_send_at",
                "wake_at",
                "waiting_for",
                "status",
                "finished_at",
                "audience_frozen_at",
                "updated_at",
            ]
        )
    return result


def _dispatch(campaign: Campaign, now: datetime.datetime, result: DispatchResult) -> None:
    if campaign.audience_frozen_at is None:
        _freeze(campaign)
    recipients = campaign.recipients
    in_flight = recipients.filter(status=RecipientStatus.ENQUEUED).count()
    if not recipients.filter(status=RecipientStatus.QUEUED).exists():
        if in_flight == 0:
            campaign.status, campaign.finished_at = CampaignStatus.COMPLETED, now
            result.finished = True
            _emit("completed", campaign)
            return
        result.waiting_for = "outcomes"
        _wake(campaign, now + datetime.timedelta(seconds=2), now, result)
        return
    organization = campaign.organization
    opens = window_next_open(
        now=now, start=campaign.send_window_start, end=campaign.send_window_end, tz=organization.tzinfo
    )
    if opens > now:
        result.waiting_for = "window"
        campaign.next_send_at = opens
        _wake(campaign, opens, now, result)
        return
    interval = campaign.interval
    # Slots missed by a late wake-up are caught up for one second at most: no burst after a stall.
    next_at = max(campaign.next_send_at or now, now - max(interval, datetime.timedelta(seconds=1)))
    if next_at > now:
        result.waiting_for = "throttle"
        _wake(campaign, next_at, now, result)
        return
    room = max_in_flight() - in_flight
    if room <= 0:
        result.waiting_for = "outbox"
        _wake(campaign, now + datetime.timedelta(seconds=0.5), now, result)
        return
    wanted = min(batch_size(), room)
    if interval:
        wanted = min(wanted, int((now - next_at) / interval) + 1)
    budget, frees_at = _tier_budget(campaign, now)
    if budget == 0:
        result.waiting_for = "tier"
        _wake(campaign, frees_at, now, result)
        return
    if budget is not None:
        wanted = min(wanted, budget)
    batch = list(
        recipients.filter(status=RecipientStatus.QUEUED)
        .select_related("contact")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("position")[:wanted]
    )
    capped = selectors.capped_contact_ids(campaign=campaign, contact_ids=[r.contact_id for r in batch], now=now)
    ready, skipped = [], []
    for recipient in batch:
        reason = selectors.exclusion_reason(recipient.contact, marketing=campaign.is_marketing, capped=capped)
        rendered = None
        if not reason:
            try:
                rendered = selectors.render_for(campaign, recipient.contact)
            except ValidationError:
                reason = ExclusionReason.MISSING_VARIABLES
        if reason:
            recipient.status, recipient.reason = RecipientStatus.SKIPPED, reason
            skipped.append(recipient)
        else:
            ready.append((recipient, rendered))
    if ready:
        try:
            with transaction.atomic():
                usage_increment(organization=organization, field="messages_sent", by=len(ready), enforce_limit=True)
        except ValidationError as error:
            campaign.status = CampaignStatus.PAUSED
            campaign.status_reason = "; ".join(error.messages)[:255]
            campaign.save(update_fields=["status_reason"])
            _emit("paused", campaign, reason="plan_limit")
            result.waiting_for = "plan_limit"
            return
    for recipient, rendered in ready:
        row, _created = notification_services.outbox_enqueue(
            organization=organization,
            event_type="conversation_message",
            channel=NotificationChannel.WHATSAPP,
            recipient=recipient.phone,
            contact_id=recipient.contact_id,
            transport=TRANSPORT,
            payload={
                "channel_id": campaign.channel_id,
                "campaign_id": campaign.pk,
                "recipient_id": recipient.pk,
                "message": {"type": "template", "template": rendered.graph_template},
            },
            message=rendered.text,
            metadata={"campaign_id": campaign.pk, "recipient_id": recipient.pk, "contact_id": recipient.contact_id},
            dedupe_key=f"campaign-{campaign.pk}:contact-{recipient.contact_id}",
        )
        recipient.status, recipient.log_id, recipient.enqueued_at = RecipientStatus.ENQUEUED, row.pk, now
    CampaignRecipient.objects.bulk_update(
        [r for r, _rendered in ready] + skipped, ["status", "reason", "log", "enqueued_at"]
    )
    result.handed_over, result.skipped = len(ready), len(skipped)
    taken = len(batch)
    if interval:
        campaign.next_send_at = next_at + interval * max(taken, 1)
        _wake(campaign, max(campaign.next_send_at, now), now, result)
    else:
        campaign.next_send_at = now
        soon = 0 if in_flight + taken < max_in_flight() else 0.5
        _wake(campaign, now + datetime.timedelta(seconds=soon), now, result)


# --- Outcomes, failures, replies ------------------------------------------------------------------


def recipient_outcome(*, row, status: str, provider_id: str = "", error: str = "") -> None:
    """The outbox recorded an attempt of a campaign row (inside its recording transaction)."""
    from notifications.models import Status

    recipient_id = row.payload.get("recipient_id")
    mine = CampaignRecipient.objects.filter(pk=recipient_id, organization_id=row.organization_id)
    now = timezone.now()
    if status == Status.SENT:
        mine.filter(status=RecipientStatus.ENQUEUED).update(status=RecipientStatus.SENT, sent_at=now, error="")
    elif status == Status.FAILED:
        if error == CANCELLED_ERROR:
            mine.update(status=RecipientStatus.SKIPPED, reason=ExclusionReason.CANCELLED, error="")
            return
        mine.filter(status=RecipientStatus.ENQUEUED).update(status=RecipientStatus.FAILED, error=error[:2000])
        failure_check(campaign_id=row.payload.get("campaign_id"))
    elif status == Status.PENDING:
        mine.update(error=(_("Retrying: %(error)s") % {"error": error})[:2000])


CANCELLED_ERROR = "The campaign was cancelled before this message was sent."


def failure_check(*, campaign_id: int) -> bool:
    """Pause the campaign when failures among its first ``failure_sample`` outcomes pass the threshold,
    and notify its owner and the org admins once. Returns whether it paused."""
    campaign = Campaign.objects.select_related("organization", "created_by").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.RUNNING or campaign.failure_notified:
        return False
    to_send = campaign.recipients.exclude(status=RecipientStatus.EXCLUDED).count()
    sample = min(campaign.failure_sample, to_send)
    first = list(
        campaign.recipients.filter(status__in=[RecipientStatus.SENT, RecipientStatus.FAILED])
        .order_by("position")
        .values_list("status", flat=True)[:sample]
    )
    failed = sum(1 for s in first if s == RecipientStatus.FAILED)
    if failed * 100 <= campaign.failure_threshold_percent * sample:
        return False
    reason = _("%(failed)d of the first %(sample)d messages failed (threshold %(threshold)d%%).") % {
        "failed": failed,
        "sample": sample,
        "threshold": campaign.failure_threshold_percent,
    }
    paused = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.RUNNING, failure_notified=False).update(
        status=CampaignStatus.PAUSED, status_reason=reason[:255], failure_notified=True, updated_at=timezone.now()
    )
    if not paused:
        return False
    dispatch(
        Event(
            "campaign.paused",
            campaign.organization_id,
            {"campaign_id": campaign.pk, "status": "paused", "reason": "failures"},
        )
    )
    recipients = {
        m.user
        for m in Membership.objects.for_organization(campaign.organization)
        .filter(role=Role.ORG_ADMIN)
        .select_related("user")
    }
    if campaign.created_by is not None:
        recipients.add(campaign.created_by)
    notification_services.notify(
        organization=campaign.organization,
        event_type="campaign_failed",
        recipients=sorted(recipients, key=lambda u: u.pk),
        context={"campaign_name": campaign.name, "error": reason},
        urgent=True,
        dedupe_key=f"campaign_failed:campaign-{campaign.pk}",
        metadata={"campaign_id": campaign.pk},
    )
    return True


def recipient_replied(*, organization_id: int, contact_id: int, conversation_id: int, at=None) -> int:
    """Mark the contact's latest campaign message of the last 72 hours as replied (once)."""
    at = at or timezone.now()
    latest = (
        CampaignRecipient.objects.filter(
            organization_id=organization_id,
            contact_id=contact_id,
            sent_at__gte=at - selectors.REPLY_WINDOW,
            sent_at__lte=at,
        )
        .order_by("-sent_at")
        .first()
    )
    if latest is None or latest.replied_at is not None:
        return 0
    return CampaignRecipient.objects.filter(pk=latest.pk, replied_at__isnull=True).update(
        replied_at=at, conversation_id=conversation_id
    )


# --- Beat -----------------------------------------------------------------------------------------


@dataclass
class TickResult:
    started: int = 0
    woken: int = 0


def campaigns_tick(*, now: datetime.datetime | None = None) -> TickResult:
    """The Beat job: start scheduled campaigns that came due; wake running ones whose wake-up was lost."""
    from conversations.campaigns.tasks import dispatch_campaign

    now = now or timezone.now()
    result = TickResult()
    with transaction.atomic():
        due = list(
            Campaign.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization", "channel", "template")
            .filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now)
        )
        for campaign in due:
            try:
                with transaction.atomic():
                    _check_ready(campaign)
                    _begin(campaign, now)
                result.started += 1
            except ValidationError as error:
                Campaign.objects.filter(pk=campaign.pk).update(
                    status=CampaignStatus.FAILED, status_reason="; ".join(error.messages)[:255], finished_at=now
                )
                dispatch(
                    Event("campaign.failed", campaign.organization_id, {"campaign_id": campaign.pk, "status": "failed"})
                )
    stale = now - datetime.timedelta(seconds=_setting("CAMPAIGNS_WAKE_GRACE_SECONDS", 5))
    lost = Campaign.objects.filter(status=CampaignStatus.RUNNING).filter(Q(wake_at__isnull=True) | Q(wake_at__lt=stale))
    for campaign_id in lost.values_list("pk", flat=True):
        _publish(dispatch_campaign, campaign_id)
        result.woken += 1
    return result
