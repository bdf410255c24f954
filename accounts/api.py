"""The organization's part of the API: who am I, and the plan's usage (the usage page's figures)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.limits import usage_months, usage_overview
from pytake.api.views import ApiView


class UsageResourceSerializer(serializers.Serializer):
    resource = serializers.CharField()
    label = serializers.CharField()
    monthly = serializers.BooleanField()
    current = serializers.IntegerField()
    limit = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)
    level = serializers.CharField(allow_null=True)


class UsageMonthSerializer(serializers.Serializer):
    month = serializers.DateField()
    messages_sent = serializers.IntegerField()
    messages_received = serializers.IntegerField()
    contacts_created = serializers.IntegerField()
    appointments_created = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    plan = serializers.CharField()
    resources = UsageResourceSerializer(many=True)
    months = UsageMonthSerializer(many=True)


class MeSerializer(serializers.Serializer):
    organization_id = serializers.IntegerField()
    organization = serializers.CharField()
    user_id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.CharField(allow_null=True)
    credential = serializers.ChoiceField(choices=["session", "personal", "organization"])
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)


class MeView(ApiView):
    scope = None

    @extend_schema(responses=MeSerializer, summary="Who the credentials act as", tags=["organization"])
    def get(self, request):
        p = self.principal
        return Response(
            MeSerializer(
                {
                    "organization_id": p.organization.pk,
                    "organization": p.organization.name,
                    "user_id": p.user.pk,
                    "email": p.user.email,
                    "role": p.membership.role if p.membership is not None else None,
                    "credential": p.kind,
                    "scopes": sorted(p.scopes) if p.scopes is not None else None,
                }
            ).data
        )


class UsageView(ApiView):
    scope = "organization"

    @extend_schema(
        responses=UsageSerializer, summary="The plan's limits and this organization's usage", tags=["organization"]
    )
    def get(self, request):
        organization = self.organization
        data = {
            "plan": organization.plan,
            "resources": usage_overview(organization=organization),
            "months": usage_months(organization=organization),
        }
        return Response(UsageSerializer(data).data)


urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("organization/usage/", UsageView.as_view(), name="organization-usage"),
]
