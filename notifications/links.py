"""Where a notification points: the object it is about, as a link in the notification center.

Notifications sit below the apps whose objects they are about, so each of those apps registers how to
link to its objects by the id its notifications carry in ``metadata`` (``conversation_id``,
``appointment_id``), from its ``AppConfig.ready``. The center then shows a compact item: the subject,
one line of the text (not the email body with its raw URLs) and that link.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_builders: dict[str, tuple[Callable[[int], str], object]] = {}
_URL = re.compile(r"https?://\S+")


def register(metadata_key: str, build: Callable[[int], str], label) -> None:
    """``build(object id) -> path``; ``label``: the link's text (lazy translation)."""
    _builders[metadata_key] = (build, label)


@dataclass(frozen=True)
class CenterItem:
    log: object
    line: str
    url: str
    link_label: str


def summary_line(message: str, subject: str = "") -> str:
    """The first line of the text that says something: no greeting-only line, no URL, not the subject again."""
    for raw in (message or "").splitlines():
        if raw.strip().endswith(":"):  # an introduction to what follows
            continue
        line = _URL.sub("", raw).strip(" :·-\t")
        if not line or line == subject.strip():
            continue
        return line[:160] + ("…" if len(line) > 160 else "")
    return ""


def center_item(log) -> CenterItem:
    url, label = "", ""
    for key, (build, link_label) in _builders.items():
        value = (log.metadata or {}).get(key)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            url, label = build(int(value)), str(link_label)
            break
    return CenterItem(log=log, line=summary_line(log.message, log.subject), url=url, link_label=label)
