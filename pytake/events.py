"""Domain events: services dispatch them; listeners (notifications, realtime, metrics) react.

A service calls ``dispatch(Event(...))`` inside its transaction. Delivery waits for the commit
(``transaction.on_commit``): a rolled-back action emits nothing. Each listener is registered for
the event names it handles with ``@listener("conversation.assigned", ...)`` in its app's
``listeners.py`` (imported when the app is ready). A failing listener is logged with the event
and never raises into the action or stops the other listeners.

Event names follow Chatwoot's. The payload carries ids only (listeners load fresh state):

    conversation.created      conversation_id, contact_id, queue_id
    conversation.assigned     conversation_id, agent_id (user), previous_agent_id, queue_id, assigned_by_id
    conversation.transferred  conversation_id, from_queue_id, to_queue_id, from_agent_id, to_agent_id, by_id
    conversation.closed       conversation_id, agent_id, closed_by_id
    conversation.reopened     conversation_id, by_id
    message.received          conversation_id, message_id, contact_id
    message.sent              conversation_id, message_id, author_id
    contact.created           contact_id
    sla.warning / sla.breached  conversation_id, kind ("first_response" | "resolution"), agent_id, queue_id, due_at (ISO)
    agent.offline             user_id, membership_id
    appointment.created / .confirmed / .cancelled / .rescheduled / .completed / .no_show
                              appointment_id, provider_id (user), contact_id

``organization_id`` is on the event itself.
"""

from __future__ import annotations

import importlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import transaction

logger = logging.getLogger(__name__)

_listeners: dict[str, list[Callable[[Event], None]]] = defaultdict(list)
_loaded = False


@dataclass(frozen=True)
class Event:
    name: str
    organization_id: int
    payload: dict[str, Any] = field(default_factory=dict)


def listener(*names: str):
    """Register the decorated function for ``names``."""

    def register(func: Callable[[Event], None]):
        for name in names:
            if func not in _listeners[name]:
                _listeners[name].append(func)
        return func

    return register


def load_listeners() -> None:
    """Import every installed app's ``listeners`` module once (from ``AppConfig.ready``)."""
    global _loaded
    if _loaded:
        return
    for config in apps.get_app_configs():
        module_name = f"{config.name}.listeners"
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
    _loaded = True


def listeners_for(name: str) -> list[Callable[[Event], None]]:
    load_listeners()
    return list(_listeners.get(name, ()))


def dispatch(event: Event, *, using: str | None = None) -> None:
    """Deliver ``event`` to its listeners once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: deliver(event), using=using, robust=True)


def deliver(event: Event) -> None:
    for func in listeners_for(event.name):
        try:
            func(event)
        except Exception:
            logger.exception("listener %s.%s failed on %s", func.__module__, func.__qualname__, event)
