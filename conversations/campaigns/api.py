"""Campaigns in the API: CRUD of drafts, preview, start/pause/resume/cancel, live metrics."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from conversations.campaigns import selectors, services
from conversations.campaigns.models import AudienceType, Campaign, Segment, TagMatch
from conversations.models import Channel, Contact, Tag, WhatsAppTemplate
from pytake.api.fields import LocalTimeField
from pytake.api.views import ApiViewSet, ListMixin, RetrieveMixin


class CampaignSerializer(serializers.ModelSerializer):
    channel_id = serializers.IntegerField(read_only=True, allow_null=True)
    template_id = serializers.IntegerField(read_only=True, allow_null=True)
    segment_id = serializers.IntegerField(read_only=True, allow_null=True)
    audience_tag_ids = serializers.SerializerMethodField()
    audience_contact_ids = serializers.SerializerMethodField()
    send_window_start = LocalTimeField(read_only=True, allow_null=True)
    send_window_end = LocalTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "status",
            "status_reason",
            "channel_id",
            "template_id",
            "variable_mapping",
            "audience_type",
            "tag_match",
            "audience_tag_ids",
            "audience_contact_ids",
            "segment_id",
            "scheduled_at",
            "messages_per_minute",
            "delay_seconds",
            "send_window_start",
            "send_window_end",
            "failure_threshold_percent",
            "failure_sample",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_audience_tag_ids(self, campaign) -> list[int]:
        return sorted(t.pk for t in campaign.audience_tags.all())

    def get_audience_contact_ids(self, campaign) -> list[int]:
        return sorted(c.pk for c in campaign.audience_contacts.all())


class CampaignWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    channel_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    template_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    variable_mapping = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField(max_length=500, allow_blank=True)),
        required=False,
        help_text='Template ref → source, e.g. {"body.1": {"source": "contact", "field": "first_name"}}.',
    )
    audience_type = serializers.ChoiceField(choices=AudienceType.choices, required=False)
    tag_match = serializers.ChoiceField(choices=TagMatch.choices, required=False)
    audience_tag_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=100
    )
    audience_contact_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=10_000
    )
    segment_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)
    messages_per_minute = serializers.IntegerField(min_value=0, max_value=100_000, required=False)
    delay_seconds = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=0, required=False)
    send_window_start = LocalTimeField(required=False, allow_null=True)
    send_window_end = LocalTimeField(required=False, allow_null=True)
    failure_threshold_percent = serializers.IntegerField(min_value=1, max_value=100, required=False)
    failure_sample = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)


class CampaignUpdateSerializer(CampaignWriteSerializer):
    name = serializers.CharField(max_length=120, required=False)


class PreviewSerializer(serializers.Serializer):
    audience = serializers.IntegerField()
    eligible = serializers.IntegerField()
    excluded = serializers.DictField(child=serializers.IntegerField())
    samples = serializers.ListField(child=serializers.DictField())
    sample_errors = serializers.ListField(child=serializers.CharField())
    cost = serializers.DecimalField(max_digits=14, decimal_places=4)
    currency = serializers.CharField(allow_blank=True)
    unpriced = serializers.IntegerField()
    duration_seconds = serializers.IntegerField()
    tier = serializers.IntegerField()


class MetricsSerializer(serializers.Serializer):
    audience = serializers.IntegerField()
    excluded = serializers.IntegerField()
    queued = serializers.IntegerField()
    in_flight = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    read = serializers.IntegerField()
    replied = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    opted_out_after = serializers.IntegerField()
    progress_percent = serializers.IntegerField()
    delivery_rate = serializers.FloatField()
    read_rate = serializers.FloatField()
    reply_rate = serializers.FloatField()
    failure_rate = serializers.FloatField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


def _resolve(organization, data: dict) -> dict:
    """Ids → rows of this organization (another organization's id is a field error, as a missing one)."""
    out = {k: v for k, v in data.items() if not k.endswith("_id") and not k.endswith("_ids")}
    errors = {}
    for name, model in (("channel", Channel), ("template", WhatsAppTemplate), ("segment", Segment)):
        key = f"{name}_id"
        if key in data:
            if data[key] is None:
                out[name] = None
                continue
            row = model.objects.filter(organization=organization, pk=data[key]).first()
            if row is None:
                errors[key] = [_("No such %(what)s in this organization.") % {"what": name}]
            out[name] = row
    for name, model in (("audience_tags", Tag), ("audience_contacts", Contact)):
        key = {"audience_tags": "audience_tag_ids", "audience_contacts": "audience_contact_ids"}[name]
        if key in data:
            rows = list(model.objects.filter(organization=organization, pk__in=data[key]))
            if len(rows) != len(set(data[key])):
                errors[key] = [_("Choose rows of this organization.")]
            out[name] = rows
    if errors:
        raise exceptions.ValidationError(errors)
    return out


@extend_schema(tags=["campaigns"])
@extend_schema_view(
    list=extend_schema(summary="Campaigns (newest first)"), retrieve=extend_schema(summary="A campaign")
)
class CampaignViewSet(ListMixin, RetrieveMixin, ApiViewSet):
    scope = "campaigns"
    serializer_class = CampaignSerializer
    ordering = ("-id", "-id")

    def get_queryset(self):
        return selectors.campaign_list(organization=self.organization).prefetch_related(
            "audience_tags", "audience_contacts"
        )

    def _answer(self, campaign, code=status.HTTP_200_OK):
        return Response(CampaignSerializer(self.get_queryset().get(pk=campaign.pk)).data, status=code)

    @extend_schema(summary="Create a draft", request=CampaignWriteSerializer, responses={201: CampaignSerializer})
    def create(self, request):
        serializer = CampaignWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = _resolve(self.organization, serializer.validated_data)
        campaign = services.campaign_create(organization=self.organization, by=request.user, **data)
        return self._answer(campaign, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a draft or scheduled campaign", request=CampaignUpdateSerializer, responses=CampaignSerializer
    )
    def partial_update(self, request, pk=None):
        campaign = self.get_object()
        serializer = CampaignUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = _resolve(self.organization, serializer.validated_data)
        campaign = services.campaign_update(campaign=campaign, by=request.user, **data)
        return self._answer(campaign)

    @extend_schema(summary="Delete a campaign that has not started", responses={204: None})
    def destroy(self, request, pk=None):
        services.campaign_delete(campaign=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Preview: audience, exclusions, samples, cost, duration", responses=PreviewSerializer)
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        campaign = self.get_object()
        if campaign.template_id is None or campaign.channel_id is None:
            raise exceptions.ValidationError({"template_id": [_("Choose a number and a template first.")]})
        preview = selectors.campaign_preview(campaign=campaign)
        return Response(
            PreviewSerializer(
                {
                    **{
                        k: getattr(preview, k) for k in ("audience", "eligible", "excluded", "samples", "sample_errors")
                    },
                    "cost": preview.cost,
                    "currency": preview.currency,
                    "unpriced": preview.unpriced,
                    "duration_seconds": int(preview.duration.total_seconds()),
                    "tier": preview.tier,
                }
            ).data
        )

    @extend_schema(summary="Live metrics", responses=MetricsSerializer)
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        metrics = selectors.campaign_metrics(campaign=self.get_object())
        return Response(MetricsSerializer(metrics).data)

    @extend_schema(summary="Start now (or schedule for scheduled_at)", request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._answer(services.campaign_start(campaign=self.get_object(), by=request.user))

    @extend_schema(summary="Pause", request=ReasonSerializer, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_pause(
            campaign=self.get_object(), by=request.user, reason=serializer.validated_data["reason"]
        )
        return self._answer(campaign)

    @extend_schema(summary="Resume", request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._answer(services.campaign_resume(campaign=self.get_object(), by=request.user))

    @extend_schema(summary="Cancel for good", request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._answer(services.campaign_cancel(campaign=self.get_object(), by=request.user))


def register(router) -> None:
    router.register("campaigns", CampaignViewSet, basename="campaign")
