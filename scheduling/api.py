"""Scheduling in the API: services, free slots, booking, and an appointment's cancel / reschedule.

The same rules as the staff calendar: ``scheduling.selectors`` says who may see and act on an
appointment, ``scheduling.availability`` finds slots, ``scheduling.services`` books and changes.
"""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from pytake.api.fields import OptionalEmailField
from pytake.api.problems import Conflict, Refused
from pytake.api.views import ApiViewSet, ListMixin, RetrieveMixin
from scheduling import availability, selectors, services
from scheduling.models import Appointment, AppointmentSource, AppointmentStatus, Service

MAX_DAYS = 62


class ServiceSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.name", read_only=True, allow_null=True, default=None)
    provider_ids = serializers.SerializerMethodField(help_text="Membership ids of the providers.")

    class Meta:
        model = Service
        fields = [
            "id",
            "name",
            "description",
            "category",
            "duration_minutes",
            "price",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "is_active",
            "provider_ids",
        ]
        read_only_fields = fields

    def get_provider_ids(self, service) -> list[int]:
        return sorted(m.pk for m in service.providers.all())


class SlotSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    provider_id = serializers.IntegerField(help_text="The membership id to book with.")


class AvailabilityQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    provider = serializers.IntegerField(min_value=1, required=False)

    def validate(self, data):
        if data["date_to"] < data["date_from"]:
            raise serializers.ValidationError({"date_to": _("Give a date on or after date_from.")})
        if (data["date_to"] - data["date_from"]).days > MAX_DAYS:
            raise serializers.ValidationError({"date_to": _("Ask for at most %(days)d days.") % {"days": MAX_DAYS}})
        return data


class AppointmentSerializer(serializers.ModelSerializer):
    service_id = serializers.IntegerField(read_only=True)
    provider_user_id = serializers.IntegerField(source="provider_id", read_only=True)
    contact_id = serializers.IntegerField(read_only=True, allow_null=True)
    rescheduled_from_id = serializers.IntegerField(read_only=True, allow_null=True)
    customer_email = OptionalEmailField(read_only=True)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "service_id",
            "provider_user_id",
            "contact_id",
            "customer_name",
            "customer_phone",
            "customer_email",
            "start",
            "end",
            "status",
            "price",
            "notes",
            "source",
            "cancellation_reason",
            "rescheduled_from_id",
            "created_at",
            "confirmed_at",
            "cancelled_at",
        ]
        read_only_fields = fields


class BookSerializer(serializers.Serializer):
    service_id = serializers.IntegerField(min_value=1)
    provider_id = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="A membership id; empty: the first free provider."
    )
    start = serializers.DateTimeField()
    customer_name = serializers.CharField(max_length=150)
    customer_phone = serializers.CharField(max_length=32)
    customer_email = serializers.EmailField(required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    confirm = serializers.BooleanField(required=False, default=False)


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class RescheduleSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    provider_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class AppointmentFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AppointmentStatus.choices, required=False)
    start_after = serializers.DateTimeField(required=False)
    start_before = serializers.DateTimeField(required=False)


def _scheduling_refusal(error: services.SchedulingError):
    if isinstance(error, services.SlotUnavailable):
        return Conflict(error.message, code=error.code)
    return Refused(error.message, code=error.code)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=["scheduling"])
@extend_schema_view(list=extend_schema(summary="Active services"), retrieve=extend_schema(summary="A service"))
class ServiceViewSet(ListMixin, RetrieveMixin, ApiViewSet):
    scope = "scheduling"
    serializer_class = ServiceSerializer
    ordering = ("-id", "-id")

    def get_queryset(self):
        return selectors.service_queryset(organization=self.organization).prefetch_related("providers")

    @extend_schema(
        summary="Free slots of the service between two dates",
        parameters=[AvailabilityQuerySerializer],
        responses=SlotSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def availability(self, request, pk=None):
        service = self.get_object()
        query = _valid(AvailabilityQuerySerializer, request.query_params)
        provider = None
        if query.get("provider"):
            provider = selectors.membership_get(organization=self.organization, membership_id=query["provider"])
            if provider is None:
                raise exceptions.ValidationError({"provider": [_("No such provider.")]})
        slots = availability.available_slots(
            organization=self.organization,
            service=service,
            date_from=query["date_from"],
            date_to=query["date_to"],
            provider=provider,
            enforce_booking_window=False,
        )
        return Response(SlotSerializer([s._asdict() for s in slots], many=True).data)


@extend_schema(tags=["scheduling"])
@extend_schema_view(
    list=extend_schema(
        summary="Appointments (newest first) the caller may see", parameters=[AppointmentFilterSerializer]
    ),
    retrieve=extend_schema(summary="An appointment"),
)
class AppointmentViewSet(ListMixin, RetrieveMixin, ApiViewSet):
    scope = "scheduling"
    serializer_class = AppointmentSerializer
    ordering = ("-id", "-id")

    def get_queryset(self):
        p = self.principal
        rows = selectors.appointment_visible(
            organization=self.organization, user=p.user, membership=p.membership, is_admin=p.is_admin
        )
        if self.action == "list":
            query = _valid(AppointmentFilterSerializer, self.request.query_params)
            if "status" in query:
                rows = rows.filter(status=query["status"])
            if "start_after" in query:
                rows = rows.filter(start__gte=query["start_after"])
            if "start_before" in query:
                rows = rows.filter(start__lt=query["start_before"])
        return rows

    def _acting(self, pk) -> Appointment:
        appointment = selectors.appointment_get(organization=self.organization, appointment_id=pk)
        p = self.principal
        if appointment is None or not selectors.appointment_may_see(
            user=p.user, membership=p.membership, appointment=appointment, is_admin=p.is_admin
        ):
            raise exceptions.NotFound()
        if not selectors.appointment_may_act(
            user=p.user, membership=p.membership, appointment=appointment, is_admin=p.is_admin
        ):
            raise exceptions.PermissionDenied(_("You may change only the appointments you provide."), code="role")
        return appointment

    @extend_schema(summary="Book an appointment", request=BookSerializer, responses={201: AppointmentSerializer})
    def create(self, request):
        data = _valid(BookSerializer, request.data)
        service = selectors.service_get(organization=self.organization, service_id=data["service_id"])
        if service is None:
            raise exceptions.ValidationError({"service_id": [_("No such active service.")]})
        provider = None
        if data.get("provider_id"):
            provider = selectors.membership_get(organization=self.organization, membership_id=data["provider_id"])
            if provider is None:
                raise exceptions.ValidationError({"provider_id": [_("No such provider.")]})
        if not self.principal.is_admin and (provider is None or provider.user_id != request.user.pk):
            if provider is not None:
                raise exceptions.PermissionDenied(_("Agents book only with themselves as the provider."), code="role")
            provider = self.principal.membership
        start = data["start"]
        if start < timezone.now() - datetime.timedelta(minutes=1):
            raise exceptions.ValidationError({"start": [_("Choose a time in the future.")]})
        try:
            appointment = services.appointment_book(
                organization=self.organization,
                service=service,
                provider=provider,
                start=start,
                customer_name=data["customer_name"],
                customer_phone=data["customer_phone"],
                customer_email=data["customer_email"],
                notes=data["notes"],
                source=AppointmentSource.STAFF,
                confirm=data["confirm"],
            )
        except services.SchedulingError as error:
            raise _scheduling_refusal(error) from error
        return Response(AppointmentSerializer(appointment).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Cancel", request=CancelSerializer, responses=AppointmentSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        appointment = self._acting(pk)
        data = _valid(CancelSerializer, request.data)
        try:
            appointment = services.appointment_cancel(appointment=appointment, reason=data["reason"], by=request.user)
        except services.SchedulingError as error:
            raise _scheduling_refusal(error) from error
        return Response(AppointmentSerializer(appointment).data)

    @extend_schema(
        summary="Reschedule (a new appointment; this one is cancelled)",
        request=RescheduleSerializer,
        responses={201: AppointmentSerializer},
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        appointment = self._acting(pk)
        data = _valid(RescheduleSerializer, request.data)
        provider = None
        if data.get("provider_id"):
            provider = selectors.membership_get(organization=self.organization, membership_id=data["provider_id"])
            if provider is None:
                raise exceptions.ValidationError({"provider_id": [_("No such provider.")]})
        try:
            moved = services.appointment_reschedule(
                appointment=appointment, start=data["start"], provider=provider, by=request.user
            )
        except services.SchedulingError as error:
            raise _scheduling_refusal(error) from error
        return Response(AppointmentSerializer(moved).data, status=status.HTTP_201_CREATED)


def register(router) -> None:
    router.register("scheduling/services", ServiceViewSet, basename="scheduling-service")
    router.register("scheduling/appointments", AppointmentViewSet, basename="appointment")
