"""Outbound webhooks in the API: endpoints (subscriptions), their delivery log, replay, rotation, test."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from notifications.webhooks import services
from notifications.webhooks.events import WEBHOOK_EVENTS
from notifications.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from pytake.api.views import ApiViewSet, ListMixin, RetrieveMixin


class EndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=WEBHOOK_EVENTS))

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown only when created or rotated.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointWriteSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENTS), min_length=1, max_length=len(WEBHOOK_EVENTS)
    )


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENTS),
        min_length=1,
        max_length=len(WEBHOOK_EVENTS),
        required=False,
    )
    is_active = serializers.BooleanField(required=False)


class RotateSerializer(serializers.Serializer):
    grace_hours = serializers.IntegerField(min_value=0, max_value=168, required=False, allow_null=True, default=None)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["id", "at", "status_code", "succeeded", "duration_ms", "response_excerpt", "error"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    endpoint_id = serializers.IntegerField(read_only=True)
    replay_of_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "event_type",
            "message_id",
            "sequence",
            "status",
            "attempts",
            "last_status_code",
            "last_attempt_at",
            "next_attempt_at",
            "last_error",
            "replay_of_id",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    payload = serializers.JSONField(read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "payload", "attempt_log"]
        read_only_fields = fields


def _body(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(summary="Webhook endpoints"), retrieve=extend_schema(summary="A webhook endpoint")
)
class EndpointViewSet(ListMixin, RetrieveMixin, ApiViewSet):
    scope = "webhooks"
    admin_only_write = True
    serializer_class = EndpointSerializer
    ordering = ("-id", "-id")

    def get_queryset(self):
        return WebhookEndpoint.objects.for_organization(self.organization)

    @extend_schema(
        summary="Subscribe an endpoint (the answer holds its secret, once)",
        request=EndpointWriteSerializer,
        responses={201: EndpointWithSecretSerializer},
    )
    def create(self, request):
        data = _body(EndpointWriteSerializer, request)
        endpoint = services.endpoint_create(organization=self.organization, by=request.user, **data)
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an endpoint (turning it on clears its failures)",
        request=EndpointUpdateSerializer,
        responses=EndpointSerializer,
    )
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = _body(EndpointUpdateSerializer, request)
        endpoint = services.endpoint_update(endpoint=endpoint, by=request.user, **data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(summary="Delete an endpoint and its log", responses={204: None})
    def destroy(self, request, pk=None):
        services.endpoint_delete(endpoint=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Rotate the secret (the old one signs too for the grace period)",
        request=RotateSerializer,
        responses=EndpointWithSecretSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint = self.get_object()
        data = _body(RotateSerializer, request)
        endpoint = services.endpoint_rotate_secret(endpoint=endpoint, by=request.user, grace_hours=data["grace_hours"])
        return Response(EndpointWithSecretSerializer(endpoint).data)

    @extend_schema(summary="Send a test event", request=None, responses={201: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.endpoint_send_test(endpoint=self.get_object(), by=request.user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)


class DeliveryFilterSerializer(serializers.Serializer):
    endpoint = serializers.IntegerField(min_value=1, required=False)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
    event_type = serializers.CharField(max_length=60, required=False)


@extend_schema(tags=["webhooks"])
@extend_schema_view(
    list=extend_schema(summary="The delivery log (newest first)", parameters=[DeliveryFilterSerializer]),
    retrieve=extend_schema(summary="A delivery with its body and every attempt", responses=DeliveryDetailSerializer),
)
class DeliveryViewSet(ListMixin, RetrieveMixin, ApiViewSet):
    scope = "webhooks"
    admin_only_write = True
    ordering = ("-id", "-id")

    def get_serializer_class(self):
        return DeliveryDetailSerializer if self.action == "retrieve" else DeliverySerializer

    def get_queryset(self):
        rows = WebhookDelivery.objects.for_organization(self.organization)
        if self.action == "retrieve":
            return rows.prefetch_related("attempt_log")
        if self.action == "list":
            found = DeliveryFilterSerializer(data=self.request.query_params)
            found.is_valid(raise_exception=True)
            filters = found.validated_data
            if "endpoint" in filters:
                rows = rows.filter(endpoint_id=filters["endpoint"])
            if "status" in filters:
                rows = rows.filter(status=filters["status"])
            if "event_type" in filters:
                rows = rows.filter(event_type=filters["event_type"])
        return rows

    @extend_schema(
        summary="Send the delivery again (same webhook-id and body)", request=None, responses={201: DeliverySerializer}
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        delivery = self.get_object()
        if delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING):
            raise exceptions.ValidationError({"status": [_("This delivery is still being sent.")]}, code="in_progress")
        replay = services.delivery_replay(delivery=delivery, by=request.user)
        return Response(DeliverySerializer(replay).data, status=status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("webhooks/endpoints", EndpointViewSet, basename="webhook-endpoint")
    router.register("webhooks/deliveries", DeliveryViewSet, basename="webhook-delivery")
