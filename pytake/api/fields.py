"""Serializer fields whose OpenAPI types say exactly what they answer."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$"


@extend_schema_field({"type": "string", "pattern": TIME_PATTERN, "example": "22:00"})
class LocalTimeField(serializers.TimeField):
    """A wall-clock time (``HH:MM[:SS]``) in the organization's or user's time zone: not RFC 3339's
    ``full-time``, which needs an offset (OpenAPI's ``format: time``)."""


@extend_schema_field({"type": "string", "example": "ana@example.com"})
class OptionalEmailField(serializers.CharField):
    """An email address or ``""`` (not given): ``format: email`` would refuse the empty string."""
