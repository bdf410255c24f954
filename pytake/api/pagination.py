"""Keyset ("cursor") pagination: pages stay stable while rows are inserted or removed.

The cursor is the position of the last row of a page — its ordering value and id — so the next
page starts strictly after it, whatever was inserted before it since. A view sets ``ordering`` to
``("<field>", "id")`` or ``("-<field>", "-id")``; the field may be nullable (PostgreSQL's order:
``NULL`` last ascending, first descending), so the same index the HTML page uses serves the API.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


def _encode(value, pk) -> str:
    raw = json.dumps([value, pk], cls=DjangoJSONEncoder, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, pk = json.loads(raw)
        if not isinstance(pk, int) or isinstance(pk, bool) or not isinstance(value, str | int | float | type(None)):
            raise ValueError
        return value, pk
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        raise exceptions.ValidationError({"cursor": [_("This cursor is not valid.")]}, code="invalid_cursor") from None


def after(ordering: tuple[str, str], value, pk) -> Q:
    """Rows strictly after the position ``(value, pk)`` in ``ordering``."""
    first, _second = ordering
    descending = first.startswith("-")
    field = first.lstrip("-")
    if field == "id":
        return Q(pk__lt=pk) if descending else Q(pk__gt=pk)
    if descending:  # NULLs first: after a NULL come the other NULLs with a smaller id, then every value
        if value is None:
            return Q(**{f"{field}__isnull": True, "pk__lt": pk}) | Q(**{f"{field}__isnull": False})
        return Q(**{f"{field}__lt": value}) | Q(**{field: value, "pk__lt": pk})
    if value is None:  # NULLs last
        return Q(**{f"{field}__isnull": True, "pk__gt": pk})
    return Q(**{f"{field}__gt": value}) | Q(**{field: value, "pk__gt": pk}) | Q(**{f"{field}__isnull": True})


class KeysetPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        ordering = tuple(getattr(view, "ordering", ("-id", "-id")))
        first_field = ordering[0].lstrip("-")
        try:
            size = int(request.query_params.get(self.page_size_query_param, settings.API_PAGE_SIZE))
        except ValueError:
            raise exceptions.ValidationError({"page_size": [_("Give a whole number.")]}) from None
        if not 1 <= size <= settings.API_MAX_PAGE_SIZE:
            raise exceptions.ValidationError(
                {"page_size": [_("Give a number from 1 to %(max)s.") % {"max": settings.API_MAX_PAGE_SIZE}]}
            )
        cursor = request.query_params.get(self.cursor_query_param)
        queryset = queryset.order_by(*ordering) if ordering[0].lstrip("-") != "id" else queryset.order_by(ordering[0])
        if cursor:
            value, pk = _decode(cursor)
            queryset = queryset.filter(after(ordering, value, pk))
        rows = list(queryset[: size + 1])
        self.has_next = len(rows) > size
        rows = rows[:size]
        self.next_cursor = None
        if self.has_next and rows:
            last = rows[-1]
            value = last.pk if first_field == "id" else getattr(last, first_field)
            self.next_cursor = _encode(value, last.pk)
        return rows

    def get_paginated_response(self, data):
        next_url = None
        if self.next_cursor:
            next_url = replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, self.next_cursor)
        return Response(OrderedDict([("next", next_url), ("next_cursor", self.next_cursor), ("results", data)]))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "next_cursor", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "next_cursor": {"type": "string", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The `next_cursor` of the previous page.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": "Rows per page (1–100, default 25).",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100},
            },
        ]
