"""``/metrics``: the Prometheus text format (``prometheus_client``), for operators.

Two kinds of figures:

- **Events counted where they happen** (HTTP requests, deliveries, messages, SLA warnings and
  breaches, websocket sessions): counters, histograms and a ``livesum`` gauge. With
  ``PROMETHEUS_MULTIPROC_DIR`` set (``make run`` sets it for Daphne, the worker and Beat and
  empties it at start) every process writes its values to files there and a scrape of any web
  process adds them up, so several Daphne processes and the Celery workers report as one.
  Without it (tests, a single process) the values live in this process.
- **State read from the database at scrape time** (outbox queue depth by status and channel,
  agents by status, notification retries): a custom collector, so every process reports the
  same truth and nothing needs to be kept in step.

Access: a ``METRICS_TOKEN`` sent as ``Authorization: Bearer …``, or a client address inside
``METRICS_ALLOWED_NETWORKS`` (CIDRs; loopback by default). Anything else gets 404, or 403 when a
wrong token was sent.

Other code calls only the ``observe_*`` / ``websocket_*`` functions below (one line each).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from functools import cache

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from pytake.events import Event, listener

logger = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

HTTP_REQUEST_SECONDS = Histogram(
    "pytake_http_request_duration_seconds",
    "Server time of HTTP requests, by resolved view name (never the raw path).",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERY_SECONDS = Histogram(
    "pytake_notification_delivery_seconds",
    "From a notification's scheduled time to its sending, by channel.",
    ["channel"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
DELIVERY_FAILURES = Counter(
    "pytake_notification_failures",
    "Failed delivery attempts, by channel and whether the row will be retried.",
    ["channel", "outcome"],
)
MESSAGES = Counter("pytake_messages", "Conversation messages stored, by direction.", ["direction"])
SLA_EVENTS = Counter("pytake_sla_events", "SLA warnings and breaches raised, by event and target.", ["event", "kind"])
WEBSOCKET_SESSIONS = Gauge(
    "pytake_websocket_sessions",
    "Open websocket sessions, by socket.",
    ["socket"],
    multiprocess_mode="livesum",
)


# --- What other modules call -----------------------------------------------------------------


def observe_delivery(*, channel: str, seconds: float) -> None:
    """A notification was sent ``seconds`` after it was scheduled (called on the success path)."""
    DELIVERY_SECONDS.labels(channel=channel).observe(max(0.0, seconds))


def observe_delivery_failure(*, channel: str, retrying: bool) -> None:
    """A delivery attempt failed; ``retrying`` says whether the row goes back to pending."""
    DELIVERY_FAILURES.labels(channel=channel, outcome="retry" if retrying else "failed").inc()


def websocket_opened(socket: str) -> None:
    WEBSOCKET_SESSIONS.labels(socket=socket).inc()


def websocket_closed(socket: str) -> None:
    WEBSOCKET_SESSIONS.labels(socket=socket).dec()


@listener("message.received", "message.sent")
def count_message(event: Event) -> None:
    MESSAGES.labels(direction="in" if event.name == "message.received" else "out").inc()


@listener("sla.warning", "sla.breached")
def count_sla_event(event: Event) -> None:
    SLA_EVENTS.labels(event=event.name.split(".", 1)[1], kind=event.payload.get("kind", "")).inc()


class RequestMetricsMiddleware:
    """Times each request and labels it with the resolver's ``view_name`` (bounded cardinality)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "<unresolved>"
        HTTP_REQUEST_SECONDS.labels(
            view=view, method=_method(request.method), status=str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _method(method: str | None) -> str:
    return method if method in _METHODS else "other"


# --- State from the database, read at scrape time --------------------------------------------


class DatabaseCollector:
    """Gauges computed from PostgreSQL on each scrape; each query reads an index, not the tables."""

    def describe(self):
        return []

    def collect(self):
        NotificationLog = apps.get_model("notifications", "NotificationLog")
        Membership = apps.get_model("accounts", "Membership")

        queue = GaugeMetricFamily(
            "pytake_outbox_rows",
            "Outbox rows waiting, being sent or failed, by status and channel.",
            labels=["status", "channel"],
        )
        rows = (
            NotificationLog.objects.filter(status__in=OUTBOX_GAUGED_STATUSES)
            .values_list("status", "channel")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for status, channel, n in rows:
            queue.add_metric([status, channel], n)
        yield queue

        retries = GaugeMetricFamily(
            "pytake_outbox_retries",
            "Retries spent so far by outbox rows waiting or being sent, by channel.",
            labels=["channel"],
        )
        spent = (
            NotificationLog.objects.filter(status__in=OUTBOX_ACTIVE_STATUSES, retry_count__gt=0)
            .values_list("channel")
            .annotate(n=Sum("retry_count"))
            .order_by()
        )
        for channel, n in spent:
            retries.add_metric([channel], n or 0)
        yield retries

        agents = GaugeMetricFamily(
            "pytake_agents", "Agents and org admins by status (online, away, offline).", labels=["status"]
        )
        counts = dict(
            Membership.objects.filter(role__in=("org_admin", "agent"), organization__is_active=True)
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for status in ("online", "away", "offline"):
            agents.add_metric([status], counts.get(status, 0))
        yield agents


OUTBOX_ACTIVE_STATUSES = ("pending", "deferred", "sending")
OUTBOX_GAUGED_STATUSES = (*OUTBOX_ACTIVE_STATUSES, "failed")


def _event_registry():
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def exposition() -> bytes:
    """The full scrape: the event metrics (of every process in multiprocess mode), then the database's."""
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    return generate_latest(_event_registry()) + generate_latest(database)


# --- Access ----------------------------------------------------------------------------------


@cache
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def _address_allowed(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def _token_state(request) -> bool | None:
    """``True`` for the right token, ``False`` for a wrong one, ``None`` when none was sent."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _space, token = header.partition(" ")
    expected = settings.METRICS_TOKEN
    if scheme.lower() != "bearer" or not expected:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


@never_cache
def metrics_view(request):
    token = _token_state(request)
    if token is False:
        return HttpResponseForbidden("Wrong metrics token.\n", content_type="text/plain")
    if token is None and not _address_allowed(request.META.get("REMOTE_ADDR")):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def mark_process_dead(pid: int) -> None:
    """Drop a finished process's ``livesum`` gauges (its counters stay counted)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(pid)
