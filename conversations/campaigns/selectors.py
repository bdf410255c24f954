"""Reads of campaigns: audiences (with their exclusions), previews, estimates, metrics, recipients."""

from __future__ import annotations

import datetime
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import pgettext_lazy

from accounts.models import Organization
from conversations.campaigns.models import (
    AudienceType,
    Campaign,
    CampaignRecipient,
    CampaignSettings,
    ChannelCampaignSettings,
    ExclusionReason,
    MessagePrice,
    MessagingTier,
    RecipientStatus,
    TagMatch,
)
from conversations.message_templates import (
    contact_sources,
    mapped_value,
    resolve_values,
    template_render,
    template_variables,
)
from conversations.models import ConsentChange, ConsentKind, Contact, OptIn, TemplateCategory, normalize_phone
from notifications.models import Status

REPLY_WINDOW = datetime.timedelta(hours=72)
TIER_WINDOW = datetime.timedelta(hours=24)


def campaign_list(*, organization: Organization) -> QuerySet[Campaign]:
    return Campaign.objects.for_organization(organization).select_related("channel", "template", "created_by")


def campaign_get(*, organization: Organization, campaign_id: int) -> Campaign | None:
    return campaign_list(organization=organization).filter(pk=campaign_id).first()


def campaign_settings_for(organization: Organization) -> CampaignSettings:
    found = CampaignSettings.objects.filter(organization=organization).first()
    return found or CampaignSettings(organization=organization)


def channel_tier(channel) -> int:
    """The number's messaging tier (0: unlimited); 1,000 until someone sets it."""
    found = ChannelCampaignSettings.objects.filter(channel=channel).values_list("messaging_tier", flat=True).first()
    return MessagingTier.TIER_1K if found is None else found


# --- Audiences ----------------------------------------------------------------------------------


def segment_contacts(*, organization: Organization, filters: dict) -> QuerySet[Contact]:
    """The contacts a segment's ``filters`` select (see ``Segment``); unknown keys are ignored."""
    contacts = Contact.objects.for_organization(organization)
    tags = [int(t) for t in filters.get("tags") or []]
    if tags:
        contacts = _with_tags(contacts, tags, filters.get("tag_match", TagMatch.ANY))
    stages = filters.get("lifecycle_stages") or []
    if stages:
        contacts = contacts.filter(lifecycle_stage__in=stages)
    consent = filters.get("consent")
    if consent == "opted_in":
        contacts = contacts.filter(opt_in=OptIn.OPTED_IN)
    elif consent == "not_opted_out":
        contacts = contacts.exclude(opt_in=OptIn.OPTED_OUT)
    elif consent == "marketing":
        contacts = contacts.filter(marketing_opt_in=True)
    elif consent == "opted_out":
        contacts = contacts.filter(opt_in=OptIn.OPTED_OUT)
    elif consent == "unknown":
        contacts = contacts.filter(opt_in=OptIn.UNKNOWN)
    elif consent == "blocked":
        contacts = contacts.filter(is_blocked=True)
    q = str(filters.get("q") or "").strip()[:100]
    if q:
        contacts = contacts.annotate(reversed_phone=Reverse("phone")).filter(contact_search_q(q))
    custom = filters.get("custom") or {}
    if not isinstance(custom, dict):
        raise ValidationError("custom: expected an object of field keys to values")
    for key, value in custom.items():
        if value not in (None, ""):
            contacts = contacts.filter(custom_fields__contains={str(key): value})
    for key, lookup in (
        ("last_contact_before", "last_message_at__date__lt"),
        ("last_contact_after", "last_message_at__date__gte"),
    ):
        value = filters.get(key)
        if value:
            day = parse_date(str(value))
            if day is None:
                raise ValidationError(f"{key}: not a date ({value!r})")
            contacts = contacts.filter(**{lookup: day})
    return contacts


def contact_search_q(q: str) -> Q:
    """Contacts whose name has words starting with ``q``'s words, whose phone starts or ends with its
    digits, or whose email starts with it (each part from its own index; the phone's end through
    ``conv_contact_phone_suffix``, so the queryset is annotated with ``reversed_phone``)."""
    condition = Q(email__istartswith=q) if "@" in q or "." in q else Q(pk__in=[])
    words = re.findall(r"\w+", q.lower())
    if any(not word.isdigit() for word in words):
        prefixes = " & ".join(word if word.isdigit() else f"{word}:*" for word in words)
        condition |= Q(search_vector=SearchQuery(prefixes, config="simple", search_type="raw"))
    digits = "".join(ch for ch in q if ch.isdigit())
    if len(digits) >= 3:
        condition |= Q(phone__startswith=f"+{digits}") | Q(reversed_phone__startswith=digits[::-1])
    return condition


def _with_tags(contacts: QuerySet[Contact], tag_ids: list[int], match: str) -> QuerySet[Contact]:
    if match == TagMatch.ALL:
        for tag_id in tag_ids:
            contacts = contacts.filter(
                Exists(Contact.tags.through.objects.filter(contact=OuterRef("pk"), tag_id=tag_id))
            )
        return contacts
    return contacts.filter(Exists(Contact.tags.through.objects.filter(contact=OuterRef("pk"), tag_id__in=tag_ids)))


def audience_contacts(*, campaign: Campaign) -> QuerySet[Contact]:
    """Every contact of the campaign's audience, before exclusions, in a stable order."""
    organization = campaign.organization
    contacts = Contact.objects.for_organization(organization)
    if campaign.audience_type == AudienceType.TAGS:
        contacts = _with_tags(
            contacts, list(campaign.audience_tags.values_list("pk", flat=True)) or [0], campaign.tag_match
        )
    elif campaign.audience_type == AudienceType.LIST:
        contacts = contacts.filter(pk__in=campaign.audience_contacts.values("pk"))
    elif campaign.audience_type == AudienceType.SEGMENT:
        if campaign.segment is None:
            return contacts.none()
        contacts = segment_contacts(organization=organization, filters=campaign.segment.filters)
    return contacts.order_by("pk")


def capped_contact_ids(*, campaign: Campaign, contact_ids: list[int] | None = None, now: datetime.datetime) -> set[int]:
    """Contacts that already got the organization's cap of marketing campaign messages in its period
    (from other campaigns; sends this campaign handed to the outbox count too)."""
    if not campaign.is_marketing:
        return set()
    policy = campaign_settings_for(campaign.organization)
    recent = CampaignRecipient.objects.filter(
        organization=campaign.organization,
        enqueued_at__gte=now - datetime.timedelta(days=policy.frequency_cap_days),
        campaign__template__category=TemplateCategory.MARKETING,
    ).exclude(campaign=campaign)
    if contact_ids is not None:
        recent = recent.filter(contact_id__in=contact_ids)
    counted = recent.values("contact_id").annotate(n=Count("id")).filter(n__gte=policy.frequency_cap_messages)
    return {row["contact_id"] for row in counted}


def _valid_phone(phone: str) -> bool:
    if not phone:
        return False
    try:
        return normalize_phone(phone) == phone
    except ValidationError:
        return False


AUDIENCE_FIELDS = ("pk", "phone", "name", "email", "opt_in", "marketing_opt_in", "is_blocked", "custom_fields")


def exclusion_reason(contact, *, marketing: bool, capped: set[int]) -> str:
    """Why ``contact`` (a row of ``AUDIENCE_FIELDS``) gets no message, or ``""``. First reason wins."""
    if contact.is_blocked:
        return ExclusionReason.BLOCKED
    if contact.opt_in == OptIn.OPTED_OUT:
        return ExclusionReason.OPTED_OUT
    if not _valid_phone(contact.phone):
        return ExclusionReason.INVALID_PHONE
    if marketing and not contact.marketing_opt_in:
        return ExclusionReason.NO_MARKETING_CONSENT
    if contact.pk in capped:
        return ExclusionReason.FREQUENCY_CAP
    return ""


def audience_iter(*, campaign: Campaign, now: datetime.datetime, chunk: int = 2000):
    """``(contact, reason)`` for each audience contact, in chunks (memory flat in the audience size)."""
    marketing = campaign.is_marketing
    capped = capped_contact_ids(campaign=campaign, now=now)
    for contact in audience_contacts(campaign=campaign).only(*AUDIENCE_FIELDS).iterator(chunk_size=chunk):
        yield contact, exclusion_reason(contact, marketing=marketing, capped=capped)


@dataclass
class Preview:
    audience: int = 0
    eligible: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)
    sample_errors: list[str] = field(default_factory=list)
    cost: Decimal = Decimal(0)
    currency: str = ""
    unpriced: int = 0
    duration: datetime.timedelta = datetime.timedelta(0)
    tier: int = 0
    tier_days: int = 1

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())

    def excluded_rows(self):
        return [(ExclusionReason(reason).label, count) for reason, count in self.excluded.items()]


def blank_variables_check(campaign: Campaign):
    """A ``contact -> bool``: whether ``render_for(campaign, contact)`` would refuse the send because a
    variable is left blank, without rendering (the template's variables are read once, not per contact:
    an audience of 100,000 is checked in a fraction of the time a render takes)."""
    refs = [variable.ref for variable in template_variables(campaign.template)]
    mapping = campaign.variable_mapping or {}

    def blank(contact) -> bool:
        sources = contact_sources(contact)
        for ref in refs:
            spec = mapping.get(ref)
            if spec is None or not str(mapped_value(spec, sources) or "").strip():
                return True
        return False

    return blank


def render_for(campaign: Campaign, contact):
    """The rendered template for ``contact`` (raises ``ValidationError`` naming missing variables)."""
    values = resolve_values(
        template=campaign.template, mapping=campaign.variable_mapping, sources=contact_sources(contact)
    )
    return template_render(template=campaign.template, values=values)


def _prices(campaign: Campaign) -> list[MessagePrice]:
    if campaign.template is None:
        return []
    rows = MessagePrice.objects.filter(organization=campaign.organization, category=campaign.template.category)
    return sorted(rows, key=lambda row: -len(row.country_code))


def price_for(phone: str, prices: list[MessagePrice]) -> MessagePrice | None:
    """The longest calling code that prefixes ``phone``."""
    digits = phone.lstrip("+")
    return next((row for row in prices if digits.startswith(row.country_code)), None)


def campaign_preview(*, campaign: Campaign, now: datetime.datetime | None = None, samples: int = 3) -> Preview:
    """What starting now would do: audience, exclusions by reason, rendered samples, cost and duration."""
    now = now or timezone.now()
    preview = Preview()
    prices = _prices(campaign)
    excluded: Counter = Counter()
    blank = blank_variables_check(campaign) if campaign.template is not None else None
    for contact, reason in audience_iter(campaign=campaign, now=now):
        preview.audience += 1
        if not reason and blank is not None:
            is_blank = blank(contact)
            if is_blank:
                reason = ExclusionReason.MISSING_VARIABLES
            # Only the samples are rendered: what the preview shows, and the words of the first errors.
            if (len(preview.sample_errors) if is_blank else len(preview.samples)) < samples:
                try:
                    rendered = render_for(campaign, contact)
                except ValidationError as error:
                    reason = ExclusionReason.MISSING_VARIABLES
                    if len(preview.sample_errors) < samples:
                        preview.sample_errors.append(f"{contact}: {'; '.join(error.messages)}")
                else:
                    reason = ""
                    preview.samples.append({"contact": str(contact), "phone": contact.phone, "text": rendered.text})
        if reason:
            excluded[reason] += 1
            continue
        preview.eligible += 1
        price = price_for(contact.phone, prices)
        if price is None:
            preview.unpriced += 1
        else:
            preview.cost += price.price
            preview.currency = preview.currency or price.currency
    preview.excluded = {reason: excluded[reason] for reason in ExclusionReason.values if excluded[reason]}
    preview.tier = channel_tier(campaign.channel)
    seconds = campaign.interval.total_seconds() * max(preview.eligible - 1, 0)
    if preview.tier and preview.eligible > preview.tier:
        preview.tier_days = -(-preview.eligible // preview.tier)
        seconds = max(seconds, (preview.tier_days - 1) * TIER_WINDOW.total_seconds())
    preview.duration = datetime.timedelta(seconds=round(seconds))
    return preview


def tier_used(*, channel, now: datetime.datetime) -> int:
    """Business-initiated sends on ``channel`` by any campaign in the last 24 hours (distinct contacts)."""
    return (
        CampaignRecipient.objects.filter(
            campaign__channel=channel, enqueued_at__gt=now - TIER_WINDOW, enqueued_at__isnull=False
        )
        .values("contact_id")
        .distinct()
        .count()
    )


def tier_frees_at(*, channel, now: datetime.datetime) -> datetime.datetime:
    oldest = (
        CampaignRecipient.objects.filter(campaign__channel=channel, enqueued_at__gt=now - TIER_WINDOW)
        .order_by("enqueued_at")
        .values_list("enqueued_at", flat=True)
        .first()
    )
    return (oldest + TIER_WINDOW) if oldest else now


# --- Metrics ------------------------------------------------------------------------------------


DELIVERED_STATUSES = (Status.DELIVERED, Status.READ)


@dataclass
class Metrics:
    audience: int
    excluded: int
    queued: int
    in_flight: int
    sent: int
    delivered: int
    read: int
    replied: int
    failed: int
    skipped: int
    opted_out_after: int
    failed_by_reason: list[tuple[str, int]]
    excluded_by_reason: list[tuple[str, int]]

    @property
    def to_send(self) -> int:
        return self.audience - self.excluded

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def progress_percent(self) -> int:
        return int(100 * self.done / self.to_send) if self.to_send else 100

    def rate(self, part: int) -> float:
        return round(100 * part / self.sent, 1) if self.sent else 0.0

    @property
    def delivery_rate(self) -> float:
        return self.rate(self.delivered)

    @property
    def read_rate(self) -> float:
        return self.rate(self.read)

    @property
    def reply_rate(self) -> float:
        return self.rate(self.replied)

    @property
    def failure_rate(self) -> float:
        attempted = self.sent + self.failed
        return round(100 * self.failed / attempted, 1) if attempted else 0.0


def _failed_q() -> Q:
    return Q(status=RecipientStatus.FAILED) | Q(status=RecipientStatus.SENT, log__status=Status.FAILED)


def campaign_metrics(*, campaign: Campaign) -> Metrics:
    """Counts from the recipient rows and their outbox rows (delivery statuses land there)."""
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    sent_ok = Q(status=RecipientStatus.SENT) & ~Q(log__status=Status.FAILED)
    opted_out = ConsentChange.objects.filter(
        contact=OuterRef("contact_id"),
        kind=ConsentKind.MESSAGING,
        value=OptIn.OPTED_OUT,
        created_at__gte=OuterRef("sent_at"),
    )
    counts = rows.aggregate(
        audience=Count("id"),
        excluded=Count("id", filter=Q(status=RecipientStatus.EXCLUDED)),
        queued=Count("id", filter=Q(status=RecipientStatus.QUEUED)),
        in_flight=Count("id", filter=Q(status=RecipientStatus.ENQUEUED)),
        sent=Count("id", filter=sent_ok),
        delivered=Count("id", filter=sent_ok & Q(log__status__in=DELIVERED_STATUSES)),
        read=Count("id", filter=sent_ok & Q(log__status=Status.READ)),
        replied=Count("id", filter=Q(replied_at__isnull=False)),
        failed=Count("id", filter=_failed_q()),
        skipped=Count("id", filter=Q(status=RecipientStatus.SKIPPED)),
    )
    counts["opted_out_after"] = rows.filter(sent_at__isnull=False).filter(Exists(opted_out)).count()
    failed_by = rows.filter(_failed_q()).values("error").annotate(n=Count("id")).order_by("-n")[:10]
    excluded_by = (
        rows.filter(status__in=[RecipientStatus.EXCLUDED, RecipientStatus.SKIPPED])
        .values("reason")
        .annotate(n=Count("id"))
    )
    return Metrics(
        **counts,
        failed_by_reason=[((row["error"] or "?")[:200], row["n"]) for row in failed_by],
        excluded_by_reason=[
            (ExclusionReason(row["reason"]).label if row["reason"] else "?", row["n"]) for row in excluded_by
        ],
    )


RECIPIENT_FILTERS = ("queued", "excluded", "sending", "sent", "delivered", "read", "replied", "failed", "skipped")


def recipient_list(*, campaign: Campaign, status: str = "") -> QuerySet[CampaignRecipient]:
    """The campaign's recipients, optionally one state of ``RECIPIENT_FILTERS``."""
    rows = CampaignRecipient.objects.filter(campaign=campaign).select_related("contact", "log").order_by("position")
    sent_ok = Q(status=RecipientStatus.SENT) & ~Q(log__status=Status.FAILED)
    filters = {
        "queued": Q(status=RecipientStatus.QUEUED),
        "excluded": Q(status=RecipientStatus.EXCLUDED),
        "sending": Q(status=RecipientStatus.ENQUEUED),
        "sent": sent_ok,
        "delivered": sent_ok & Q(log__status__in=DELIVERED_STATUSES),
        "read": sent_ok & Q(log__status=Status.READ),
        "replied": Q(replied_at__isnull=False),
        "failed": _failed_q(),
        "skipped": Q(status=RecipientStatus.SKIPPED),
    }
    if status in filters:
        rows = rows.filter(filters[status])
    return rows


STATE_LABELS = {
    RecipientStatus.QUEUED: pgettext_lazy("recipient state", "Queued"),
    RecipientStatus.EXCLUDED: pgettext_lazy("recipient state", "Excluded"),
    RecipientStatus.ENQUEUED: pgettext_lazy("recipient state", "Sending"),
    RecipientStatus.SENT: pgettext_lazy("recipient state", "Sent"),
    RecipientStatus.FAILED: pgettext_lazy("recipient state", "Failed"),
    RecipientStatus.SKIPPED: pgettext_lazy("recipient state", "Not sent"),
    Status.DELIVERED: pgettext_lazy("recipient state", "Delivered"),
    Status.READ: pgettext_lazy("recipient state", "Read"),
}


def recipient_state(recipient: CampaignRecipient) -> str:
    """One word for the list: the outbox row's later state (delivered/read/failed) wins over ``sent``."""
    if recipient.status == RecipientStatus.SENT and recipient.log is not None:
        if recipient.log.status in (Status.DELIVERED, Status.READ, Status.FAILED):
            return recipient.log.status
    return recipient.status


def campaign_for_conversation(*, organization: Organization, conversation_id: int) -> Campaign | None:
    """The campaign a conversation's contact replied to (for the inbox to show), if any."""
    found = (
        CampaignRecipient.objects.for_organization(organization)
        .filter(conversation_id=conversation_id)
        .select_related("campaign")
        .order_by("-replied_at")
        .first()
    )
    return found.campaign if found else None


def campaign_progress_many(*, campaigns: list[Campaign]) -> dict[int, dict]:
    """For the list: per campaign, how many will be sent and how many are done, in one query."""
    rows = (
        CampaignRecipient.objects.filter(campaign__in=campaigns)
        .values("campaign_id")
        .annotate(
            to_send=Count("id", filter=~Q(status=RecipientStatus.EXCLUDED)),
            done=Count(
                "id", filter=Q(status__in=[RecipientStatus.SENT, RecipientStatus.FAILED, RecipientStatus.SKIPPED])
            ),
        )
    )
    result = {}
    for row in rows:
        row["percent"] = int(100 * row["done"] / row["to_send"]) if row["to_send"] else 100
        result[row["campaign_id"]] = row
    return result
