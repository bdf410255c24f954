"""``Idempotency-Key`` on ``POST``: a retry gets the first answer, another body with the key is refused.

Kept in Redis under the caller's identity (a token, or a user in an organization) for
``API_IDEMPOTENCY_TTL_SECONDS`` (24 h). The first request with a key stores a *pending* marker
(``SET NX``), runs, then stores its answer (status, body, headers); a second request with the same
key and the same method, path and body gets that answer again, with ``Idempotent-Replayed: true``.
A request with the key while the first is still running is a 409; a different method, path or
body with the same key is a 422. Server errors (5xx) are not kept, so they can be retried.

A crash between the action's commit and storing its answer leaves the pending marker until
``PENDING_SECONDS``; a retry after that runs the action again — as with any at-least-once client.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from pytake.api.problems import Conflict, Refused

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
PENDING_SECONDS = 60
KEPT_HEADERS = ("Location",)


def _cache_key(principal_key: str, key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"api:idempotency:{principal_key}:{digest}"


def fingerprint(request) -> str:
    body = request.body if hasattr(request, "body") else b""
    return hashlib.sha256(b"%s %s\n" % (request.method.encode(), request.path.encode()) + body).hexdigest()


def begin(*, principal_key: str, key: str, print_: str) -> dict | None:
    """The stored answer for ``key`` (to replay), or ``None`` after reserving the key for this request."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Refused(
            _("The Idempotency-Key header must be 1 to %(max)s printable characters.") % {"max": MAX_KEY_LENGTH},
            code="idempotency_key_invalid",
        )
    name = _cache_key(principal_key, key)
    if cache.add(name, json.dumps({"state": "pending", "fingerprint": print_}), timeout=PENDING_SECONDS):
        return None
    stored = cache.get(name)
    if stored is None:  # expired in between: take it now
        cache.add(name, json.dumps({"state": "pending", "fingerprint": print_}), timeout=PENDING_SECONDS)
        return None
    stored = json.loads(stored)
    if stored["fingerprint"] != print_:
        raise Refused(
            _("This Idempotency-Key was used for a different request; use a new key for a new request."),
            code="idempotency_key_reused",
        )
    if stored["state"] == "pending":
        raise Conflict(
            _("A request with this Idempotency-Key is still being processed."), code="idempotency_in_progress"
        )
    return stored


def finish(*, principal_key: str, key: str, print_: str, response) -> None:
    name = _cache_key(principal_key, key)
    if response.status_code >= 500:
        cache.delete(name)
        return
    stored = {
        "state": "done",
        "fingerprint": print_,
        "status": response.status_code,
        "body": response.data,
        "content_type": getattr(response, "content_type", None),  # set for problems; None: the renderer's
        "headers": {h: response[h] for h in KEPT_HEADERS if h in response},
    }
    cache.set(name, json.dumps(stored, default=str), timeout=settings.API_IDEMPOTENCY_TTL_SECONDS)


def release(*, principal_key: str, key: str) -> None:
    cache.delete(_cache_key(principal_key, key))
