"""Errors as RFC 9457 problem details, with the fields at fault.

Every error the API answers has the same shape, served as ``application/problem+json``::

    {"type": "urn:pytake:problem:validation", "title": "Invalid input", "status": 400,
     "detail": "…", "instance": "/api/v1/contacts/", "errors": [{"field": "phone", "message": "…", "code": "…"}]}

Django's ``ValidationError`` raised by a service (a rule refused the action) is a 422 with the
service's messages; a malformed request (the serializer refused it) is a 400.
"""

from __future__ import annotations

import logging

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:pytake:problem:"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class Refused(exceptions.APIException):
    """A domain rule refused the action (a 422 with the rule's message)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The action was refused."
    default_code = "refused"


def _field_errors(detail, prefix: str = "") -> list[dict]:
    """Flatten DRF's nested error detail into ``[{field, message, code}]``."""
    errors: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                errors.extend(_field_errors(value, f"{prefix}[{key}]"))  # an item of a list field
                continue
            name = "" if key in ("non_field_errors", NON_FIELD_ERRORS) else str(key)
            errors.extend(_field_errors(value, f"{prefix}.{name}" if prefix and name else (name or prefix)))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list) and not isinstance(value, exceptions.ErrorDetail):
                errors.extend(_field_errors(value, f"{prefix}[{index}]" if prefix else f"[{index}]"))
            else:
                errors.extend(_field_errors(value, prefix))
    else:
        errors.append(
            {"field": prefix, "message": str(detail), "code": getattr(detail, "code", "invalid") or "invalid"}
        )
    return errors


def _django_errors(error: DjangoValidationError) -> list[dict]:
    if hasattr(error, "error_dict"):
        found = []
        for name, items in error.error_dict.items():
            field = "" if name == NON_FIELD_ERRORS else name
            for item in items:
                found.append({"field": field, "message": " ".join(item.messages), "code": item.code or "invalid"})
        return found
    return [
        {"field": "", "message": " ".join(item.messages), "code": getattr(item, "code", None) or "invalid"}
        for item in error.error_list
    ]


TITLES = {
    400: ("validation", "Invalid input"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("refused", "Refused by a rule"),
    429: ("rate-limited", "Too many requests"),
    500: ("server-error", "Server error"),
}


def problem(
    *, status_code: int, detail: str, instance: str = "", errors: list[dict] | None = None, code: str = ""
) -> dict:
    slug, title = TITLES.get(status_code, ("error", "Error"))
    body = {
        "type": TYPE_PREFIX + (code if code and status_code in (403, 409, 422) else slug),
        "title": _(title),
        "status": status_code,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(
    *, status_code: int, detail: str, instance: str = "", errors=None, code: str = "", headers=None
) -> Response:
    body = problem(status_code=status_code, detail=detail, instance=instance, errors=errors, code=code)
    response = Response(body, status=status_code, headers=headers, content_type=CONTENT_TYPE)
    return response


def exception_handler(exc, context):
    """DRF's ``EXCEPTION_HANDLER``: every exception an API view raises becomes a problem document."""
    request = context.get("request")
    instance = request.path if request is not None else ""
    headers = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, DjangoValidationError):
        errors = _django_errors(exc)
        detail = "; ".join(e["message"] for e in errors) or _("The action was refused.")
        code = (getattr(exc, "code", None) or "refused") if not hasattr(exc, "error_dict") else "refused"
        return problem_response(status_code=422, detail=detail, instance=instance, errors=errors, code=code)
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handler (also a problem document under /api/)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        detail = _("The request has invalid fields.")
        if errors and all(not e["field"] for e in errors):
            detail = "; ".join(e["message"] for e in errors)
    else:
        detail = str(exc.detail) if not isinstance(exc.detail, dict | list) else _("The request was refused.")
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else ""
    return problem_response(
        status_code=exc.status_code, detail=detail, instance=instance, errors=errors, code=code, headers=headers
    )


def problem_json_response(*, status_code: int, detail: str, instance: str) -> JsonResponse:
    """For Django's own error handlers under ``/api/`` (unknown URL, refused input, a bug)."""
    return JsonResponse(
        problem(status_code=status_code, detail=detail, instance=instance),
        status=status_code,
        content_type=CONTENT_TYPE,
    )
