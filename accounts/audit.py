"""The audit log's one writer: ``record(...)``, called by services inside their transaction.

Services that take an acting user call it with the before/after of the fields they changed::

    before = audit.snapshot(conversation, ["priority"])
    ...change and save...
    audit.record(organization=org, actor=by, action="conversation.priority_changed", obj=conversation,
                 changes=audit.diff(before, audit.snapshot(conversation, ["priority"])))

``changes`` is ``{field: [before, after]}``; values are stored as JSON (related rows by id).
The tenant-scoped admin records its own adds, changes and deletions (``accounts/tenant_admin.py``).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from accounts.models import AuditLogEntry, Organization, User


def json_value(value: Any) -> Any:
    """A JSON-friendly form of a field value: rows by primary key, collections element-wise."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, models.QuerySet):
        return sorted(value.values_list("pk", flat=True))
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [json_value(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal, uuid.UUID)):
        return str(value) if not isinstance(value, datetime.date) else value.isoformat()
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or ""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of ``fields`` of ``obj`` (foreign keys by id, many-to-many as id lists)."""
    values = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            values[name] = sorted(getattr(obj, name).values_list("pk", flat=True)) if obj.pk else []
        elif field.is_relation:
            values[name] = getattr(obj, field.attname)
        else:
            values[name] = json_value(getattr(obj, name))
    return values


def stored(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """``snapshot`` of the row as the database holds it: the "before" of an update service, since a
    bound ModelForm has already written the new values onto the instance it was given."""
    fields = list(fields)
    if obj.pk is None:
        return dict.fromkeys(fields)
    return snapshot(type(obj)._default_manager.get(pk=obj.pk), fields)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """``{field: [before, after]}`` for the fields whose value changed."""
    return {
        name: [json_value(before.get(name)), json_value(after.get(name))]
        for name in sorted(set(before) | set(after))
        if json_value(before.get(name)) != json_value(after.get(name))
    }


def _actor_user_id(actor) -> int | None:
    if actor is None:
        return None
    if isinstance(actor, User):
        return actor.pk
    user_id = getattr(actor, "user_id", None)  # a Membership
    if user_id is None:
        raise TypeError(f"an audit actor is a User or a Membership, not {type(actor).__name__}")
    return user_id


def record(
    *,
    organization: Organization | int,
    actor,
    action: str,
    obj: models.Model | None,
    changes: dict | None = None,
    metadata: dict | None = None,
) -> AuditLogEntry:
    """Write one entry: ``actor`` (a User, a Membership or ``None`` for the system) did ``action`` to ``obj``.

    Call it inside the service's transaction: the entry commits or rolls back with the action.
    """
    organization_id = organization.pk if isinstance(organization, Organization) else int(organization)
    entry = AuditLogEntry(
        organization_id=organization_id,
        actor_id=_actor_user_id(actor),
        action=action[:80],
        changes=json_value(changes or {}),
        metadata=json_value(metadata or {}),
    )
    if obj is not None:
        entry.content_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
        entry.object_id = str(obj.pk)[:64]
        entry.object_repr = str(obj)[:200]
    entry.save()
    return entry
