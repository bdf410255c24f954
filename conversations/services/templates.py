"""WhatsApp message templates: sync from Meta, submit for approval, status and quality updates.

Network calls to the Graph API happen outside any transaction or row lock; the outcome is
recorded in a short transaction afterwards. A status change emits ``whatsapp_template.status_changed``
(template_id, status, previous_status, reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import User
from conversations.channels import whatsapp
from conversations.models import (
    Channel,
    ChannelKind,
    TemplateCategory,
    TemplateParameterFormat,
    TemplateQuality,
    TemplateStatus,
    WhatsAppTemplate,
)
from conversations.services.common import _emit

logger = logging.getLogger(__name__)

# Meta's template statuses (the list's ``status`` and the webhook's ``event``) → ours.
META_STATUSES = {
    "APPROVED": TemplateStatus.APPROVED,
    "REINSTATED": TemplateStatus.APPROVED,
    "UNARCHIVED": TemplateStatus.APPROVED,
    "PENDING": TemplateStatus.PENDING,
    "IN_APPEAL": TemplateStatus.PENDING,
    "REJECTED": TemplateStatus.REJECTED,
    "LIMIT_EXCEEDED": TemplateStatus.REJECTED,
    "PAUSED": TemplateStatus.PAUSED,
    "DISABLED": TemplateStatus.DISABLED,
    "PENDING_DELETION": TemplateStatus.DISABLED,
    "DELETED": TemplateStatus.DISABLED,
    "ARCHIVED": TemplateStatus.DISABLED,
}
META_QUALITIES = {q.upper(): q for q in TemplateQuality.values}
SYNC_PAGE_SIZE = 100


@dataclass(frozen=True)
class TemplateSyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0  # gone from Meta: marked disabled, kept
    skipped: int = 0  # answered by Meta in a shape PyTake cannot store (logged)


def _graph_channel(channel: Channel) -> None:
    if channel.kind != ChannelKind.WHATSAPP:
        raise ValidationError(
            _("The channel “%(name)s” is not a WhatsApp channel: it has no message templates.")
            % {"name": channel.name},
            code="not_whatsapp",
        )
    if not channel.business_account_id:
        raise ValidationError(
            _(
                "The channel “%(name)s” has no WhatsApp Business Account id: set it in the channel's settings "
                "before syncing or submitting templates."
            )
            % {"name": channel.name},
            code="no_business_account_id",
        )
    if not channel.access_token:
        raise ValidationError(
            _("The channel “%(name)s” has no access token for the Graph API.") % {"name": channel.name},
            code="no_access_token",
        )


def _client(channel: Channel) -> whatsapp.WhatsAppClient:
    return whatsapp.WhatsAppClient(phone_number_id=channel.phone_number_id, access_token=channel.access_token)


def _graph_refusal(error: whatsapp.SendError) -> ValidationError:
    if error.retryable:  # timeouts, connection errors, 5xx/429 after the client's retries
        return ValidationError(
            _("The Graph API could not be reached; try again later (%(reason)s).") % {"reason": error},
            code="graph_unavailable",
        )
    return ValidationError(_("Meta refused the request: %(reason)s") % {"reason": error.user_message}, code="graph")


def _fields_from_meta(item: dict) -> dict | None:
    """Our columns for one template of the Graph API's list, or ``None`` when it cannot be stored."""
    provider_id, name, language = item.get("id"), item.get("name"), item.get("language")
    if not (provider_id and isinstance(name, str) and name and isinstance(language, str) and language):
        return None
    category = str(item.get("category") or "").lower()
    if category not in TemplateCategory.values:
        return None
    quality = item.get("quality_score")
    quality = quality.get("score") if isinstance(quality, dict) else None
    reason = str(item.get("rejected_reason") or "")
    components = item.get("components")
    return {
        "provider_id": str(provider_id),
        "name": name[:512],
        "language": language[:15],
        "category": category,
        "status": META_STATUSES.get(str(item.get("status") or "").upper(), TemplateStatus.PENDING),
        "parameter_format": TemplateParameterFormat.NAMED
        if str(item.get("parameter_format") or "").upper() == "NAMED"
        else TemplateParameterFormat.POSITIONAL,
        "quality_rating": META_QUALITIES.get(str(quality or "").upper(), TemplateQuality.UNKNOWN),
        "rejected_reason": "" if reason.upper() == "NONE" else reason[:255],
        "components": components if isinstance(components, list) else [],
    }


def template_sync(*, channel: Channel) -> TemplateSyncResult:
    """Bring the channel's templates in line with its business account at Meta (every page).

    Templates Meta no longer lists are marked ``disabled``, never deleted (sent messages and
    settings may point at them); drafts that were never submitted are left alone. Safe to run
    twice. Graph API errors become a ``ValidationError`` with Meta's message.
    """
    _graph_channel(channel)
    try:
        items = list(
            _client(channel).iter_templates(business_account_id=channel.business_account_id, limit=SYNC_PAGE_SIZE)
        )
    except whatsapp.SendError as error:
        raise _graph_refusal(error) from None
    return _record_sync(channel, items)


@transaction.atomic
def _record_sync(channel: Channel, items: list[dict]) -> TemplateSyncResult:
    # One sync per channel at a time (Beat, the command and the admin may overlap).
    Channel.objects.select_for_update().filter(pk=channel.pk).first()
    now = timezone.now()
    rows = list(WhatsAppTemplate.objects.select_for_update().filter(channel=channel))
    by_provider = {row.provider_id: row for row in rows if row.provider_id}
    by_key = {(row.name, row.language): row for row in rows}
    counts = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0, "skipped": 0}
    seen: set[int] = set()
    for item in items:
        fields = _fields_from_meta(item)
        if fields is None:
            counts["skipped"] += 1
            logger.warning(
                "template sync of channel %s: skipped %r", channel.pk, {k: item.get(k) for k in ("id", "name")}
            )
            continue
        row = by_provider.get(fields["provider_id"]) or by_key.get((fields["name"], fields["language"]))
        if row is None:
            row = WhatsAppTemplate.objects.create(
                organization_id=channel.organization_id, channel=channel, last_synced_at=now, **fields
            )
            by_provider[row.provider_id] = row
            by_key[(row.name, row.language)] = row
            seen.add(row.pk)
            counts["created"] += 1
            continue
        if row.pk in seen:
            counts["skipped"] += 1
            continue
        seen.add(row.pk)
        previous_status = row.status
        changed = [name for name, value in fields.items() if getattr(row, name) != value]
        for name in changed:
            setattr(row, name, fields[name])
        row.last_synced_at = now
        row.save(update_fields=[*changed, "last_synced_at", "updated_at"] if changed else ["last_synced_at"])
        counts["updated" if changed else "unchanged"] += 1
        if row.status != previous_status:
            _status_changed(row, previous_status)
    for row in rows:
        if row.pk in seen or not row.provider_id or row.status in (TemplateStatus.DRAFT, TemplateStatus.DISABLED):
            continue
        previous_status = row.status
        row.status = TemplateStatus.DISABLED
        row.rejected_reason = _("No longer listed by Meta (deleted from the business account).")[:255]
        row.last_synced_at = now
        row.save(update_fields=["status", "rejected_reason", "last_synced_at", "updated_at"])
        _status_changed(row, previous_status)
        counts["removed"] += 1
    return TemplateSyncResult(**counts)


def _status_changed(template: WhatsAppTemplate, previous_status: str) -> None:
    _emit(
        "whatsapp_template.status_changed",
        template.organization_id,
        template_id=template.pk,
        status=template.status,
        previous_status=previous_status,
        reason=template.rejected_reason,
    )


@transaction.atomic
def template_create(
    *,
    channel: Channel,
    name: str,
    language: str,
    components: list[dict],
    category: str = TemplateCategory.UTILITY,
    parameter_format: str = TemplateParameterFormat.POSITIONAL,
) -> WhatsAppTemplate:
    """A draft template of a WhatsApp channel, validated as Meta would; ``template_submit`` sends it."""
    template = WhatsAppTemplate(
        organization_id=channel.organization_id,
        channel=channel,
        name=name.strip(),
        language=language.strip(),
        category=category,
        parameter_format=parameter_format,
        components=components,
        status=TemplateStatus.DRAFT,
    )
    template.full_clean()
    template.save()
    return template


def _submission_body(template: WhatsAppTemplate) -> dict:
    body = {
        "name": template.name,
        "language": template.language,
        "category": template.category.upper(),
        "components": template.components,
    }
    if template.parameter_format == TemplateParameterFormat.NAMED:
        body["parameter_format"] = "NAMED"
    return body


def template_is_submittable(template: WhatsAppTemplate) -> bool:
    """A draft (created at Meta) or a rejected template Meta knows (edited there and reviewed again)."""
    return template.status == TemplateStatus.DRAFT or (
        template.status == TemplateStatus.REJECTED and bool(template.provider_id)
    )


def template_submit(*, template: WhatsAppTemplate, by: User | None = None) -> WhatsAppTemplate:
    """Submit a template to Meta for approval.

    A draft is created at Meta (``POST /<waba-id>/message_templates``) and takes the id, status
    (usually ``pending``) and category Meta answers; a rejected template, once corrected, is
    edited there (``POST /<template-id>`` with its components and category) and goes back to
    ``pending``. Who submitted it and when is recorded. Meta's refusals become a
    ``ValidationError`` with its message, and the template stays as it was.
    """
    with transaction.atomic():
        template = (
            WhatsAppTemplate.objects.select_for_update(of=("self",))
            .select_related("channel", "organization")
            .get(pk=template.pk)
        )
        if not template_is_submittable(template):
            raise ValidationError(
                _("Only drafts and rejected templates are submitted for approval; “%(name)s” is %(status)s.")
                % {"name": template, "status": template.get_status_display()},
                code="not_submittable",
            )
        _graph_channel(template.channel)
        template.full_clean()
        body = _submission_body(template)
        channel = template.channel
        edit_of = template.provider_id if template.status == TemplateStatus.REJECTED else ""
    try:
        if edit_of:
            _client(channel).edit_template(
                template_id=edit_of, body={"category": body["category"], "components": body["components"]}
            )
            answer = {"id": edit_of, "status": "PENDING", "category": body["category"]}
        else:
            answer = _client(channel).create_template(business_account_id=channel.business_account_id, body=body)
    except whatsapp.SendError as error:
        logger.info("template %s refused by Meta: %s", template.pk, error)
        raise _graph_refusal(error) from None
    with transaction.atomic():
        template = WhatsAppTemplate.objects.select_for_update(of=("self",)).get(pk=template.pk)
        previous_status = template.status
        template.provider_id = str(answer["id"])[:64]
        template.status = META_STATUSES.get(str(answer.get("status") or "").upper(), TemplateStatus.PENDING)
        category = str(answer.get("category") or "").lower()
        if category in TemplateCategory.values:
            template.category = category
        template.submitted_at = timezone.now()
        template.submitted_by = by
        template.rejected_reason = ""
        template.save(
            update_fields=[
                "provider_id",
                "status",
                "category",
                "submitted_at",
                "submitted_by",
                "rejected_reason",
                "updated_at",
            ]
        )
        _status_changed(template, previous_status)
        audit.record(
            organization=template.organization_id,
            actor=by,
            action="whatsapp_template.submitted",
            obj=template,
            changes=audit.diff({"status": previous_status}, {"status": template.status}),
        )
    return template


def _matching(*, channel: Channel, business_account_id: str, provider_id: str, name: str, language: str):
    """The rows of the channel's organization a webhook names, in the channel's business account only."""
    if not channel.business_account_id or str(business_account_id) != channel.business_account_id:
        return WhatsAppTemplate.objects.none()
    rows = WhatsAppTemplate.objects.select_for_update().filter(
        organization_id=channel.organization_id, channel__business_account_id=channel.business_account_id
    )
    if provider_id:
        by_id = rows.filter(provider_id=str(provider_id))
        if by_id.exists() or not (name and language):
            return by_id
    if name and language:
        return rows.filter(name=name, language=language)
    return WhatsAppTemplate.objects.none()


@transaction.atomic
def template_status_update(
    *,
    channel: Channel,
    business_account_id: str,
    event: str,
    provider_id: str = "",
    name: str = "",
    language: str = "",
    reason: str = "",
) -> list[WhatsAppTemplate]:
    """Apply a ``message_template_status_update`` (``event`` as Meta sends it, e.g. ``APPROVED``).

    Only templates of ``channel``'s organization in ``channel``'s business account change: an
    event naming another account changes nothing. Returns the templates changed; an event PyTake
    does not track (``FLAGGED``…) changes none.
    """
    status = META_STATUSES.get(str(event).upper())
    if status is None:
        return []
    changed = []
    reason = "" if str(reason).upper() == "NONE" else str(reason)[:255]
    for template in _matching(
        channel=channel, business_account_id=business_account_id, provider_id=provider_id, name=name, language=language
    ):
        previous_status = template.status
        if previous_status == status and template.rejected_reason == reason:
            continue
        template.status = status
        template.rejected_reason = reason
        if provider_id and not template.provider_id:
            template.provider_id = str(provider_id)[:64]
        template.save(update_fields=["status", "rejected_reason", "provider_id", "updated_at"])
        if previous_status != status:
            _status_changed(template, previous_status)
        changed.append(template)
    return changed


@transaction.atomic
def template_quality_update(
    *,
    channel: Channel,
    business_account_id: str,
    quality: str,
    provider_id: str = "",
    name: str = "",
    language: str = "",
) -> list[WhatsAppTemplate]:
    """Apply a ``message_template_quality_update`` (``quality``: GREEN, YELLOW, RED or UNKNOWN)."""
    rating = META_QUALITIES.get(str(quality).upper())
    if rating is None:
        raise ValidationError(
            _("Unknown template quality “%(quality)s”.") % {"quality": quality}, code="template_quality"
        )
    changed = []
    for template in _matching(
        channel=channel, business_account_id=business_account_id, provider_id=provider_id, name=name, language=language
    ):
        if template.quality_rating == rating:
            continue
        template.quality_rating = rating
        template.save(update_fields=["quality_rating", "updated_at"])
        changed.append(template)
    return changed
