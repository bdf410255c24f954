"""Domain events: services dispatch them; listeners (notifications, realtime, metrics) react.

A service calls ``dispatch(Event(...))`` inside its transaction. Each listener is registered for
the event names it handles with ``@listener("conversation.assigned", ...)`` in its app's
``listeners.py`` (imported when the app is ready), in one of two phases:

- ``AFTER_COMMIT`` (the default): runs once the transaction commits (``transaction.on_commit``);
  a rolled-back action emits nothing. For side effects outside the database (websockets, HTTP).
- ``IN_TRANSACTION``: runs at dispatch, inside the action's transaction, in a savepoint. For
  writes that must commit or roll back with the action (the notification outbox): a crash after
  the commit cannot lose them, a rollback leaves none.

A failing listener is logged with the event and never raises into the action or stops the other
listeners; an in-transaction one is rolled back to its savepoint first.

Event names follow Chatwoot's. The payload carries ids only (listeners load fresh state):

    conversation.created      conversation_id, contact_id, queue_id
    conversation.assigned     conversation_id, agent_id (user), previous_agent_id, queue_id, assigned_by_id
    conversation.transferred  conversation_id, from_queue_id, to_queue_id, from_agent_id, to_agent_id, by_id
    conversation.closed       conversation_id, agent_id, closed_by_id
    conversation.reopened     conversation_id, by_id
    conversation.snoozed      conversation_id, agent_id, queue_id, until (ISO or None: until the customer writes), by_id
    conversation.woken        conversation_id, agent_id, queue_id, reason ("time" | "customer" | "agent")
    conversation.mentioned    conversation_id, message_id (the note), mentioned_id (user), author_id
    csat.rated                conversation_id, agent_id, queue_id, score
    message.received          conversation_id, message_id, contact_id
    message.sent              conversation_id, message_id, author_id, first_response (true on the reply that set it)
    message.status_changed    conversation_id, message_id, previous_status, status (a provider's delivery status moved it)
    message.updated           conversation_id, message_id (its media was stored or refused)
    contact.created           contact_id
    contact.updated           contact_id, by_id, fields (the names of what changed)
    contacts.imported         import_id, created (one event per CSV import, not one per contact)
    sla.warning / sla.breached  conversation_id, kind ("first_response" | "resolution"), agent_id, queue_id, due_at (ISO)
    agent.offline             user_id, membership_id
    whatsapp_template.status_changed  template_id, status, previous_status, reason
    appointment.created / .confirmed / .cancelled / .rescheduled / .completed / .no_show
                              appointment_id, provider_id (user), contact_id
    campaign.started / .paused / .resumed / .cancelled / .completed / .failed
                              campaign_id, status (and for .paused: reason "manual" | "plan_limit" | "failures")

``organization_id`` is on the event itself.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from pytake.app_modules import app_submodules

logger = logging.getLogger(__name__)

AFTER_COMMIT = "after_commit"
IN_TRANSACTION = "in_transaction"

_listeners: dict[str, list[Callable[[Event], None]]] = defaultdict(list)
_in_transaction: set[Callable[[Event], None]] = set()
_guards: dict[Callable[[Event], None], Callable[[Event], bool]] = {}
_batch: set[Callable] = set()
_loaded = False


@dataclass(frozen=True)
class Event:
    name: str
    organization_id: int
    payload: dict[str, Any] = field(default_factory=dict)


def listener(*names: str, phase: str = AFTER_COMMIT, when: Callable[[Event], bool] | None = None, batch: bool = False):
    """Register the decorated function for ``names``, to run in ``phase``.

    ``when`` is a cheap test of the event alone (no queries): the listener runs only if it is true.
    For an in-transaction listener that ignores most events of its name, it saves the savepoint
    opened around each call.

    ``batch`` (in-transaction only): the function takes a *list* of events of one name. Events
    dispatched together with ``dispatch_many`` (a sweep's batch) reach it in one call, so it can do
    its work in a fixed number of queries; a single ``dispatch`` calls it with a list of one.
    """
    if phase not in (AFTER_COMMIT, IN_TRANSACTION):
        raise ValueError(f"unknown listener phase: {phase}")

    def register(func: Callable[[Event], None]):
        for name in names:
            if func not in _listeners[name]:
                _listeners[name].append(func)
        if phase == IN_TRANSACTION:
            _in_transaction.add(func)
        if when is not None:
            _guards[func] = when
        if batch:
            if phase != IN_TRANSACTION:
                raise ValueError("batch listeners run in the transaction (phase=IN_TRANSACTION)")
            _batch.add(func)
        return func

    return register


def load_listeners() -> None:
    """Import every installed app's ``listeners`` module once (from ``AppConfig.ready``)."""
    global _loaded
    if _loaded:
        return
    app_submodules("listeners")
    import pytake.metrics  # noqa: F401  (its listeners count messages and SLA events)

    _loaded = True


def listeners_for(name: str, phase: str = AFTER_COMMIT) -> list[Callable[[Event], None]]:
    load_listeners()
    wanted = phase == IN_TRANSACTION
    return [func for func in _listeners.get(name, ()) if (func in _in_transaction) == wanted]


def _wanted(func: Callable[[Event], None], event: Event) -> bool:
    guard = _guards.get(func)
    return guard is None or bool(guard(event))


def dispatch(event: Event, *, using: str | None = None) -> None:
    """Run the in-transaction listeners now, the others once the transaction commits."""
    dispatch_many([event], using=using)


def dispatch_many(events: list[Event], *, using: str | None = None) -> None:
    """``dispatch`` for a batch of events: batch listeners get each name's events in one call."""
    by_name: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_name[event.name].append(event)
    for name, same in by_name.items():
        for func in listeners_for(name, IN_TRANSACTION):
            wanted = [event for event in same if _wanted(func, event)]
            if not wanted:
                continue
            calls = [wanted] if func in _batch else [[event] for event in wanted]
            for call in calls:
                try:
                    with transaction.atomic(using=using):
                        func(call if func in _batch else call[0])
                except Exception:
                    logger.exception(
                        "listener %s.%s failed on %d %s event(s)", func.__module__, func.__qualname__, len(call), name
                    )
    if events:
        transaction.on_commit(lambda: [deliver(event) for event in events], using=using, robust=True)


def deliver(event: Event) -> None:
    """Run the after-commit listeners of ``event``."""
    for func in listeners_for(event.name, AFTER_COMMIT):
        if not _wanted(func, event):
            continue
        try:
            func(event)
        except Exception:
            logger.exception("listener %s.%s failed on %s", func.__module__, func.__qualname__, event)
