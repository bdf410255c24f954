"""Who sends an outbox row: the channel's own adapter, or a transport another app registered.

The outbox (``NotificationLog``) knows how to claim, retry, relay and record a row; it does not
know what a conversation message or an appointment email is. Apps above notifications teach it by
registering a *transport* under a name in their ``transports.py`` (imported once, like
``listeners.py``)::

    @transport("conversations.message")
    class MessageTransport:
        def send(self, row) -> str: ...          # the provider's message id (or "")
        def on_outcome(self, row, *, status, provider_id="", error="") -> None: ...  # optional

``send`` runs outside any transaction and holds no row lock; it raises
``PermanentDeliveryError`` when retrying cannot help, anything else to be retried with backoff.
``on_outcome`` runs inside the transaction that records the row's outcome (``sent``, ``failed``,
or ``pending`` again before a retry), so the app's own rows (a conversation message's delivery
status) change together with the outbox row.
"""

from __future__ import annotations

import logging
from typing import Protocol

from notifications.adapters import PermanentDeliveryError, adapter_for
from pytake.app_modules import app_submodules

logger = logging.getLogger(__name__)

_transports: dict[str, object] = {}
_loaded = False


class Transport(Protocol):
    def send(self, row) -> str: ...


def transport(name: str):
    """Register the decorated class (instantiated once) as the sender of rows with ``transport=name``."""

    def register(cls):
        _transports[name] = cls()
        return cls

    return register


def load_transports() -> None:
    global _loaded
    if not _loaded:
        app_submodules("transports")
        _loaded = True


def transport_for(row):
    """The sender of ``row``: its registered transport, else the adapter of its channel."""
    if not row.transport:
        return adapter_for(row.channel)
    load_transports()
    sender = _transports.get(row.transport)
    if sender is None:
        raise PermanentDeliveryError(f"no transport is registered as {row.transport!r}")
    return sender


def outcome_hook(sender, row, **outcome) -> None:
    """Call the sender's ``on_outcome`` if it has one (inside the recording transaction)."""
    hook = getattr(sender, "on_outcome", None)
    if hook is not None:
        hook(row, **outcome)
