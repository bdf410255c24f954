"""The notifications app's API: the caller's in-app notifications and notification preferences."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from notifications import selectors, services
from notifications.models import NotificationLog, NotificationPreference
from notifications.registry import configurable_event_types
from pytake.api.fields import LocalTimeField
from pytake.api.views import ApiView, ApiViewSet, ListMixin


class NotificationSerializer(serializers.ModelSerializer):
    unread = serializers.SerializerMethodField()

    class Meta:
        model = NotificationLog
        fields = ["id", "event_type", "subject", "message", "metadata", "created_at", "read_at", "unread"]
        read_only_fields = fields

    def get_unread(self, row) -> bool:
        return row.read_at is None


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


class NotificationFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)


@extend_schema(tags=["notifications"])
@extend_schema_view(
    list=extend_schema(summary="My in-app notifications (newest first)", parameters=[NotificationFilterSerializer])
)
class NotificationViewSet(ListMixin, ApiViewSet):
    scope = "notifications"
    own_data = True
    serializer_class = NotificationSerializer
    ordering = ("-id", "-id")

    def get_queryset(self):
        found = NotificationFilterSerializer(data=self.request.query_params)
        found.is_valid(raise_exception=True)
        rows = selectors.notification_center_queryset(organization=self.organization, user=self.request.user)
        if found.validated_data.get("unread") is not None:
            rows = rows.filter(read_at__isnull=found.validated_data["unread"])
        return rows

    @extend_schema(summary="Mark one read", request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        try:
            log_id = int(pk)
        except ValueError:
            raise exceptions.NotFound() from None
        if not services.notification_mark_read(organization=self.organization, user=request.user, log_id=log_id):
            raise exceptions.NotFound()
        return Response(NotificationSerializer(self.get_queryset().get(pk=log_id)).data)

    @extend_schema(summary="Mark all read", request=None, responses=MarkedSerializer)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        count = services.notification_mark_all_read(organization=self.organization, user=request.user)
        return Response({"marked": count})


class PreferenceSerializer(serializers.ModelSerializer):
    event_types = serializers.DictField(child=serializers.BooleanField(), required=False)
    quiet_hours_start = LocalTimeField(required=False)
    quiet_hours_end = LocalTimeField(required=False)

    class Meta:
        model = NotificationPreference
        fields = sorted(services.PREFERENCE_EDITABLE)
        extra_kwargs = {name: {"required": False} for name in sorted(services.PREFERENCE_EDITABLE)}

    def validate_event_types(self, value):
        known = {e.name for e in configurable_event_types()}
        unknown = sorted(set(value) - known)
        if unknown:
            raise serializers.ValidationError(f"Unknown event types: {', '.join(unknown)}")
        return value


class PreferenceView(ApiView):
    scope = "notifications"
    own_data = True

    def _preference(self):
        return services.preference_ensure(organization=self.organization, user=self.request.user)

    @extend_schema(summary="My notification preferences", responses=PreferenceSerializer, tags=["notifications"])
    def get(self, request):
        return Response(PreferenceSerializer(self._preference()).data)

    @extend_schema(
        summary="Change my notification preferences (only the fields given)",
        request=PreferenceSerializer,
        responses=PreferenceSerializer,
        tags=["notifications"],
    )
    def patch(self, request):
        serializer = PreferenceSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        preference = services.preference_update(
            preference=self._preference(), by=request.user, **serializer.validated_data
        )
        return Response(PreferenceSerializer(preference).data, status=status.HTTP_200_OK)


def register(router) -> None:
    router.register("notifications", NotificationViewSet, basename="notification")


urlpatterns = [path("notifications/preferences/", PreferenceView.as_view(), name="notification-preferences")]
