"""Attachment rules: which content types each message kind accepts, size limits, safe names.

The limits are WhatsApp Cloud API's media limits, so anything an agent attaches can be sent.
"""

from __future__ import annotations

import mimetypes
import os
import uuid

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

MiB = 1024 * 1024

ALLOWED_TYPES: dict[str, tuple[frozenset[str], int]] = {
    "image": (frozenset({"image/jpeg", "image/png", "image/webp"}), 5 * MiB),
    "video": (frozenset({"video/mp4", "video/3gpp"}), 16 * MiB),
    "audio": (frozenset({"audio/aac", "audio/mp4", "audio/mpeg", "audio/amr", "audio/ogg"}), 16 * MiB),
    # Stickers are WebP only (up to 500 KB animated); an upload of WebP is an image, never a sticker.
    "sticker": (frozenset({"image/webp"}), MiB // 2),
    "document": (
        frozenset(
            {
                "application/pdf",
                "text/plain",
                "text/csv",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.ms-excel",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.ms-powerpoint",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            }
        ),
        100 * MiB,
    ),
}

MAX_NAME_LENGTH = 120
INLINE_KINDS = ("image", "sticker", "video", "audio")


def shows_inline(content_type: str) -> bool:
    """Whether the pane may show a file of ``content_type`` in the page (an image, audio or video we accept)."""
    content_type = (content_type or "").split(";")[0].strip().lower()
    return any(content_type in ALLOWED_TYPES[kind][0] for kind in INLINE_KINDS)


def accept_attribute() -> str:
    """The file input's ``accept``: every type an agent may send (stickers are received only)."""
    return ",".join(sorted(t for kind, (types, _limit) in ALLOWED_TYPES.items() if kind != "sticker" for t in types))


def kind_for_content_type(content_type: str) -> str | None:
    for kind, (types, _limit) in ALLOWED_TYPES.items():
        if content_type in types:
            return kind
    return None


def sanitize_filename(name: str) -> str:
    """A name safe on any filesystem and in a URL: no path, no odd characters, bounded length."""
    base = os.path.basename((name or "").replace("\\", "/")).replace("\x00", "")
    try:
        safe = get_valid_filename(base)
    except Exception:
        safe = ""
    safe = safe.lstrip(".") or "file"
    stem, ext = os.path.splitext(safe)
    return stem[: MAX_NAME_LENGTH - len(ext[:16])] + ext[:16]


def validate_attachment(*, name: str, content_type: str, size: int) -> str:
    """Check an upload and return its message kind (``image``, ``video``, ``audio``, ``document``)."""
    content_type = (content_type or "").split(";")[0].strip().lower()
    kind = kind_for_content_type(content_type)
    if kind is None:
        raise ValidationError(
            _(
                "Files of type “%(type)s” cannot be sent. Send an image (JPEG, PNG, WebP), a video (MP4), audio or a PDF/Office document."
            )
            % {"type": content_type or "?"},
            code="attachment_type",
        )
    guessed, _encoding = mimetypes.guess_type(name or "")
    if guessed is not None and kind_for_content_type(guessed) != kind:
        raise ValidationError(
            _("The file name “%(name)s” does not match its type “%(type)s”.") % {"name": name, "type": content_type},
            code="attachment_mismatch",
        )
    limit = ALLOWED_TYPES[kind][1]
    if size <= 0:
        raise ValidationError(_("The file is empty."), code="attachment_empty")
    if size > limit:
        raise ValidationError(
            _("The file is %(size).1f MiB; %(kind)s files may be up to %(limit)d MiB.")
            % {"size": size / MiB, "kind": kind, "limit": limit // MiB},
            code="attachment_size",
        )
    return kind


def attachment_upload_to(instance, filename: str) -> str:
    """``attachments/<org id>/<yyyy>/<mm>/<uuid>-<sanitized name>``: unguessable and collision-free."""
    now = timezone.now()
    return f"attachments/{instance.organization_id}/{now:%Y/%m}/{uuid.uuid4().hex}-{sanitize_filename(filename)}"
