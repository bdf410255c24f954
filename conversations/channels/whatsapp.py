"""WhatsApp Cloud API: webhook signature and payload parsing, and the outbound client.

Webhook payloads follow Meta's format::

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>", "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": "...", "phone_number_id": "..."},
         "contacts": [{"profile": {"name": "..."}, "wa_id": "5511..."}],
         "messages": [{"from": "5511...", "id": "wamid...", "timestamp": "1700000000", "type": "text",
                       "text": {"body": "..."}}],
         "statuses": [{"id": "wamid...", "status": "delivered", "timestamp": "...", "recipient_id": "..."}]}}]}]}

Outbound sends go to ``{WHATSAPP_GRAPH_BASE_URL}/{phone_number_id}/messages``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from pytake.request_input import clean_text, has_unstorable_text

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
STATUS_VALUES = ("sent", "delivered", "read", "failed")


def signature_for(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    if not header or not app_secret:
        return False
    return hmac.compare_digest(signature_for(body, app_secret), header.strip())


class PayloadError(ValueError):
    """The webhook body is not a WhatsApp Business Account notification we understand."""


@dataclass(frozen=True)
class InboundMessage:
    phone_number_id: str
    provider_message_id: str
    wa_id: str
    profile_name: str
    kind: str  # text, image, video, audio, document, sticker, location
    body: str
    timestamp: dt.datetime | None
    media_id: str = ""
    mime_type: str = ""
    filename: str = ""
    # A tapped quick-reply button: its payload (or the interactive reply's id), and the message it answers.
    reply_payload: str = ""
    context_id: str = ""
    # A shared location: latitude, longitude and the name, address and url WhatsApp gave.
    location: dict | None = None


@dataclass(frozen=True)
class StatusUpdate:
    phone_number_id: str
    provider_message_id: str
    status: str
    timestamp: dt.datetime | None
    error: str = ""


@dataclass(frozen=True)
class TemplateEvent:
    """A ``message_template_status_update`` or ``message_template_quality_update`` change."""

    field: str
    business_account_id: str  # the entry's id: the WABA the template belongs to
    provider_id: str
    name: str
    language: str
    event: str = ""  # status updates: APPROVED, REJECTED, PAUSED, DISABLED, PENDING_DELETION…
    reason: str = ""
    new_quality: str = ""  # quality updates: GREEN, YELLOW, RED, UNKNOWN
    previous_quality: str = ""


@dataclass
class Notification:
    """The well-formed messages and statuses of a delivery, and what was wrong with the others."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    template_events: list[TemplateEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# Ids longer than this are not Meta's: refused, not truncated (truncated ids collide).
ID_MAX_CHARS_DEFAULT = 256


def _id_max_chars() -> int:
    from conversations.models import Message

    return Message._meta.get_field("provider_message_id").max_length or ID_MAX_CHARS_DEFAULT


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _require(mapping: Any, key: str, kind: type, where: str):
    if not isinstance(mapping, dict):
        raise PayloadError(f"{where} must be an object")
    value = mapping.get(key)
    if not isinstance(value, kind):
        raise PayloadError(f"{where}.{key} is missing or is not {_type_name(kind)}")
    return value


def _require_id(mapping: Any, key: str, where: str) -> str:
    """An identifier as stored: refused (never cleaned or cut) if it has a NUL, a lone surrogate or is too long."""
    value = _require(mapping, key, str, where)
    if has_unstorable_text(value):
        raise PayloadError(f"{where}.{key} contains a NUL character or a lone surrogate")
    limit = _id_max_chars()
    if len(value) > limit:
        raise PayloadError(f"{where}.{key} is {len(value)} characters long, over the limit of {limit}")
    return value


def _text(value: Any) -> str:
    """Free text as stored: NUL characters and lone surrogates removed (PostgreSQL refuses them)."""
    return clean_text(value) if isinstance(value, str) else ""


def _optional_object(mapping: dict, key: str, where: str) -> dict:
    value = mapping.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{where}.{key} must be an object")
    return value


def _optional_list(mapping: dict, key: str, where: str) -> list:
    value = mapping.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{where}.{key} must be a list")
    return value


def _type_name(kind: type) -> str:
    return {str: "a string", list: "a list", dict: "an object"}.get(kind, f"a {kind.__name__}")


def _message(raw: Any, phone_number_id: str, names: dict[str, str], where: str) -> InboundMessage:
    message_id = _require_id(raw, "id", where)
    sender = _require_id(raw, "from", where)
    kind = _require(raw, "type", str, where)
    timestamp = _timestamp(raw.get("timestamp"))
    common = {
        "phone_number_id": phone_number_id,
        "provider_message_id": message_id,
        "wa_id": sender,
        "profile_name": names.get(sender, ""),
        "timestamp": timestamp,
    }
    if kind == "text":
        body = _require(_require(raw, "text", dict, where), "body", str, f"{where}.text")
        return InboundMessage(kind="text", body=_text(body), **common)
    if kind in MEDIA_TYPES:
        media = _require(raw, kind, dict, where)
        media_id = _require_id(media, "id", f"{where}.{kind}")
        return InboundMessage(
            kind=kind,
            body=_text(media.get("caption")),
            media_id=media_id,
            mime_type=_text(media.get("mime_type")),
            filename=_text(media.get("filename")),
            **common,
        )
    if kind == "location":
        location = _require(raw, "location", dict, where)
        details = {
            k: _text(location.get(k))[:500] for k in ("name", "address", "url") if isinstance(location.get(k), str)
        }
        coordinates = [location.get(k) for k in ("latitude", "longitude")]
        if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coordinates):
            latitude, longitude = float(coordinates[0]), float(coordinates[1])
            if -90 <= latitude <= 90 and -180 <= longitude <= 180:
                details |= {"latitude": latitude, "longitude": longitude}
        if "latitude" not in details and not details.get("name") and not details.get("address"):
            raise PayloadError(f"{where}.location: no coordinates, name or address")
        parts = [details.get("name", ""), details.get("address", "")]
        if "latitude" in details:
            parts.append(f"{details['latitude']}, {details['longitude']}")
        body = "📍 " + " — ".join(p for p in parts if p)
        return InboundMessage(kind="location", body=body, location=details, **common)
    context = raw.get("context") if isinstance(raw.get("context"), dict) else {}
    context_id = _text(context.get("id"))
    if kind == "button":
        button = _require(raw, "button", dict, where)
        return InboundMessage(
            kind="text",
            body=_text(button.get("text")),
            reply_payload=_text(button.get("payload")),
            context_id=context_id,
            **common,
        )
    if kind == "interactive":
        interactive = _require(raw, "interactive", dict, where)
        reply = _optional_object(interactive, "button_reply", f"{where}.interactive") or _optional_object(
            interactive, "list_reply", f"{where}.interactive"
        )
        return InboundMessage(
            kind="text",
            body=_text(reply.get("title")),
            reply_payload=_text(reply.get("id")),
            context_id=context_id,
            **common,
        )
    if has_unstorable_text(kind) or len(kind) > 64:
        raise PayloadError(f"{where}.type is not a message type")
    return InboundMessage(kind="text", body=f"[{kind} message: not supported by PyTake yet]", **common)


def _status(raw: Any, phone_number_id: str, where: str) -> StatusUpdate:
    message_id = _require_id(raw, "id", where)
    status = _require(raw, "status", str, where)
    if status not in STATUS_VALUES:
        raise PayloadError(f"{where}.status “{_text(status)[:40]}” is not one of {', '.join(STATUS_VALUES)}")
    errors = _optional_list(raw, "errors", where)
    error = "; ".join(
        f"{_text(str(e.get('code', '?')))}: {_text(e.get('title')) or _text(e.get('message'))}".strip()
        for e in errors
        if isinstance(e, dict)
    )
    return StatusUpdate(
        phone_number_id=phone_number_id,
        provider_message_id=message_id,
        status=status,
        timestamp=_timestamp(raw.get("timestamp")),
        error=error,
    )


TEMPLATE_FIELDS = ("message_template_status_update", "message_template_quality_update")


def _template_event(entry: dict, change: dict, where: str) -> TemplateEvent:
    value = _require(change, "value", dict, where)
    provider_id = value.get("message_template_id")
    name = value.get("message_template_name")
    if not isinstance(provider_id, (int, str)) or isinstance(provider_id, bool) or not str(provider_id):
        raise PayloadError(f"{where}.value.message_template_id is missing or is not a number")
    if name is not None and not isinstance(name, str):
        raise PayloadError(f"{where}.value.message_template_name must be a string")
    texts = {}
    for key in ("message_template_language", "event", "reason", "new_quality_score", "previous_quality_score"):
        item = value.get(key)
        if item is not None and not isinstance(item, str):
            raise PayloadError(f"{where}.value.{key} must be a string")
        texts[key] = item or ""
    if change["field"] == "message_template_status_update" and not texts["event"]:
        raise PayloadError(f"{where}.value.event is missing")
    if change["field"] == "message_template_quality_update" and not texts["new_quality_score"]:
        raise PayloadError(f"{where}.value.new_quality_score is missing")
    return TemplateEvent(
        field=change["field"],
        business_account_id=str(entry.get("id") or ""),
        provider_id=str(provider_id),
        name=name or "",
        language=texts["message_template_language"],
        event=texts["event"].upper(),
        reason=texts["reason"],
        new_quality=texts["new_quality_score"].upper(),
        previous_quality=texts["previous_quality_score"].upper(),
    )


def _load(body: bytes) -> list:
    """The body's entries; a body that is not a notification at all raises ``PayloadError``."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    if data.get("object") != "whatsapp_business_account":
        raise PayloadError("“object” must be “whatsapp_business_account”")
    return _require(data, "entry", list, "body")


def _names(value: dict, where: str) -> dict[str, str]:
    names = {}
    for n, contact in enumerate(_optional_list(value, "contacts", where)):
        if isinstance(contact, dict) and isinstance(contact.get("wa_id"), str):
            profile = _optional_object(contact, "profile", f"{where}.contacts[{n}]")
            names[contact["wa_id"]] = _text(profile.get("name"))
    return names


def _change(change: Any, where: str, notification: Notification, entry: dict) -> None:
    if not isinstance(change, dict):
        raise PayloadError(f"{where} must be an object")
    if change.get("field") in TEMPLATE_FIELDS:
        notification.template_events.append(_template_event(entry, change, where))
        return
    if change.get("field") != "messages":
        return  # account updates, other fields: not ours
    value = _require(change, "value", dict, where)
    phone_number_id = _require(value, "metadata", dict, f"{where}.value").get("phone_number_id")
    if not isinstance(phone_number_id, str) or not phone_number_id:
        raise PayloadError(f"{where}.value.metadata.phone_number_id is missing or is not a string")
    try:
        names = _names(value, f"{where}.value")
    except PayloadError as problem:
        notification.problems.append(str(problem))
        names = {}
    for key, parse, into in (
        ("messages", lambda raw, at: _message(raw, phone_number_id, names, at), notification.messages),
        ("statuses", lambda raw, at: _status(raw, phone_number_id, at), notification.statuses),
    ):
        try:
            items = _optional_list(value, key, f"{where}.value")
        except PayloadError as problem:
            notification.problems.append(str(problem))
            continue
        for i, raw in enumerate(items):
            try:
                into.append(parse(raw, f"{where}.value.{key}[{i}]"))
            except PayloadError as problem:
                notification.problems.append(str(problem))


def parse_notification(body: bytes) -> Notification:
    """Parse a webhook body item by item: the well-formed messages and statuses, and the problems.

    One malformed message never costs the others of the same delivery. A body that is not a
    notification at all raises ``PayloadError``; each problem names where it is, for a developer.
    """
    notification = Notification()
    for e, entry in enumerate(_load(body)):
        try:
            changes = _require(entry, "changes", list, f"entry[{e}]")
        except PayloadError as problem:
            notification.problems.append(str(problem))
            continue
        for c, change in enumerate(changes):
            try:
                _change(change, f"entry[{e}].changes[{c}]", notification, entry)
            except PayloadError as problem:
                notification.problems.append(str(problem))
    return notification


# --- Outbound ------------------------------------------------------------------------------------


class SendError(Exception):
    """The Graph API refused the message (4xx) or kept failing (5xx/timeouts) after the retries."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None, details: dict | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.details = details or {}  # the Graph API's "error" object, when it sent one

    @property
    def user_message(self) -> str:
        """What Meta says to show a person (``error_user_msg``), else its technical message."""
        title = str(self.details.get("error_user_title") or "").strip()
        text = str(self.details.get("error_user_msg") or self.details.get("message") or "").strip()
        if title and text:
            return f"{title}: {text}"
        return text or title or str(self)


class WhatsAppClient:
    """Sends messages for one phone number; retries 5xx, 429, timeouts and connection errors."""

    def __init__(
        self,
        *,
        phone_number_id: str,
        access_token: str,
        base_url: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        session: requests.Session | None = None,
    ):
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.base_url = (base_url or settings.WHATSAPP_GRAPH_BASE_URL).rstrip("/")
        self.timeout = settings.WHATSAPP_HTTP_TIMEOUT if timeout is None else timeout
        self.retries = settings.WHATSAPP_SEND_RETRIES if retries is None else retries
        self.backoff = settings.WHATSAPP_RETRY_BACKOFF if backoff is None else backoff
        self.session = session or requests.Session()

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/{self.phone_number_id}/messages"

    @property
    def media_url(self) -> str:
        return f"{self.base_url}/{self.phone_number_id}/media"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def _request(self, url: str, *, method: str = "POST", raw: bool = False, retry: bool = True, **kwargs):
        attempts = self.retries + 1 if retry else 1
        last_error = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                response = self.session.request(method, url, headers=self._headers(), timeout=self.timeout, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as error:
                last_error = f"{type(error).__name__}: {error}"
                logger.warning("WhatsApp send attempt %d/%d failed: %s", attempt + 1, attempts, last_error)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                last_error = f"HTTP {response.status_code}: {response.text[:300]}"
                logger.warning("WhatsApp send attempt %d/%d failed: %s", attempt + 1, attempts, last_error)
                continue
            if response.status_code >= 400:
                raise SendError(
                    f"HTTP {response.status_code}: {_graph_error(response)}",
                    retryable=False,
                    status=response.status_code,
                    details=_graph_error_details(response),
                )
            if raw:
                return response
            try:
                return response.json()
            except ValueError:
                raise SendError(
                    f"HTTP {response.status_code}: the reply is not JSON", retryable=False, status=response.status_code
                ) from None
        raise SendError(f"gave up after {attempts} attempts: {last_error}", retryable=True)

    def send(self, payload: dict) -> str:
        """POST a message object (``type`` and its content); returns the provider message id."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **payload}
        data = self._request(self.messages_url, json=body)
        try:
            return str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise SendError(f"the reply has no message id: {json.dumps(data)[:300]}", retryable=False) from None

    def send_text(self, *, to: str, body: str) -> str:
        return self.send({"to": wa_id(to), "type": "text", "text": {"preview_url": False, "body": body}})

    def upload_media(self, *, content: bytes, filename: str, content_type: str) -> str:
        data = self._request(
            self.media_url,
            data={"messaging_product": "whatsapp", "type": content_type},
            files={"file": (filename, content, content_type)},
        )
        if not isinstance(data, dict) or not data.get("id"):
            raise SendError("the media upload reply has no id", retryable=False)
        return str(data["id"])

    def download_media(self, *, media_id: str, max_bytes: int) -> tuple[bytes, str]:
        """Fetch an inbound media file: its URL from ``GET /{media-id}``, then the bytes (both need the token)."""
        info = self._request(f"{self.base_url}/{media_id}", method="GET")
        url = info.get("url") if isinstance(info, dict) else None
        if not url:
            raise SendError(f"the media lookup of {media_id} has no url", retryable=False)
        size = info.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise SendError(f"media {media_id} is {size} bytes, over the {max_bytes}-byte limit", retryable=False)
        response = self._request(url, method="GET", raw=True, stream=True)
        content = response.raw.read(max_bytes + 1, decode_content=True)
        if len(content) > max_bytes:
            raise SendError(f"media {media_id} is over the {max_bytes}-byte limit", retryable=False)
        return content, str(info.get("mime_type") or response.headers.get("Content-Type", ""))

    def send_media(self, *, to: str, kind: str, media_id: str, caption: str = "", filename: str = "") -> str:
        media: dict[str, str] = {"id": media_id}
        if caption and kind in ("image", "video", "document"):
            media["caption"] = caption
        if filename and kind == "document":
            media["filename"] = filename
        return self.send({"to": wa_id(to), "type": kind, kind: media})

    # --- Message templates (of the WhatsApp Business Account, not of the phone number) ---

    TEMPLATE_FIELDS = "id,name,language,status,category,parameter_format,components,quality_score,rejected_reason"

    def list_templates(self, *, business_account_id: str, after: str | None = None, limit: int = 100) -> dict:
        """One page of ``GET /<waba-id>/message_templates``: ``{"data": [...], "paging": {...}}``.

        The next page is asked for with ``after=page["paging"]["cursors"]["after"]``; there is one
        while the page has ``paging.next`` (see ``iter_templates``).
        """
        params: dict[str, str | int] = {"fields": self.TEMPLATE_FIELDS, "limit": limit}
        if after:
            params["after"] = after
        data = self._request(f"{self.base_url}/{business_account_id}/message_templates", method="GET", params=params)
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise SendError("the template list reply has no “data” list", retryable=False)
        return data

    def iter_templates(self, *, business_account_id: str, limit: int = 100, max_pages: int = 1000):
        """Every template of the business account, following the cursors page by page."""
        after = None
        seen: set[str] = set()
        for _page in range(max_pages):
            page = self.list_templates(business_account_id=business_account_id, after=after, limit=limit)
            yield from (item for item in page["data"] if isinstance(item, dict))
            paging = page.get("paging") if isinstance(page.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            after = cursors.get("after")
            if not paging.get("next") or not after:
                return
            if after in seen:
                raise SendError(f"the template list repeats the cursor {after}", retryable=False)
            seen.add(after)
        raise SendError(f"the template list has more than {max_pages} pages", retryable=False)

    def create_template(self, *, business_account_id: str, body: dict) -> dict:
        """``POST /<waba-id>/message_templates``; returns ``{"id", "status", "category"}``.

        Not retried: a retry after a lost answer would be refused as a duplicate name.
        """
        data = self._request(f"{self.base_url}/{business_account_id}/message_templates", json=body, retry=False)
        if not isinstance(data, dict) or not data.get("id"):
            raise SendError(f"the template creation reply has no id: {json.dumps(data)[:300]}", retryable=False)
        return data

    def edit_template(self, *, template_id: str, body: dict) -> dict:
        """``POST /<template-id>`` with new ``components``/``category`` (a rejected template resubmitted)."""
        data = self._request(f"{self.base_url}/{template_id}", json=body, retry=False)
        if not isinstance(data, dict) or not data.get("success"):
            raise SendError(f"the template edit was not accepted: {json.dumps(data)[:300]}", retryable=False)
        return data

    def send_template(self, *, to: str, template: dict) -> str:
        """Send a template message; ``template`` is ``template_render(...).graph_template``."""
        return self.send({"to": wa_id(to), "type": "template", "template": template})


def wa_id(phone: str) -> str:
    """WhatsApp addresses numbers as digits without the ``+``."""
    return phone.lstrip("+")


def _graph_error(response: requests.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"{error.get('code', '?')} {error.get('message', '')}".strip()
    except (ValueError, AttributeError):
        return response.text[:300]


def _graph_error_details(response: requests.Response) -> dict:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def text_notification(
    *,
    phone_number_id: str,
    display_phone: str,
    wa_id: str,
    name: str,
    body: str,
    message_id: str,
    timestamp: int,
    business_account_id: str = "0",
) -> dict:
    """A text-message notification exactly as Meta posts it (used by ``simulate_inbound``)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": business_account_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display_phone.lstrip("+"),
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": message_id,
                                    "timestamp": str(timestamp),
                                    "type": "text",
                                    "text": {"body": body},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
