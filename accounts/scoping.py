"""The one tenant-scoping mechanism for querysets.

Every model holding tenant data declares ``tenant_path``: the lookup from the model to its
``Organization`` (``"organization"`` for most, ``"memberships__organization"`` for users).
``Model.objects.for_organization(org)`` is the only way views, the admin, consumers, tasks and
commands read tenant rows.
"""

from __future__ import annotations

from django.db import models


def tenant_path_of(model) -> str | None:
    return getattr(model, "tenant_path", None)


def scope_queryset(queryset: models.QuerySet, organization) -> models.QuerySet:
    """Limit ``queryset`` to ``organization``; models without a tenant path are refused loudly."""
    path = tenant_path_of(queryset.model)
    if path is None:
        raise TypeError(f"{queryset.model.__name__} has no tenant_path: it cannot be scoped to an organization")
    if path == "pk":
        return queryset.filter(pk=organization.pk)
    scoped = queryset.filter(**{path: organization})
    if "__" in path:
        # Paths through a many-valued relation can repeat rows.
        scoped = scoped.distinct()
    return scoped


class TenantQuerySet(models.QuerySet):
    def for_organization(self, organization):
        return scope_queryset(self, organization)


TenantManager = models.Manager.from_queryset(TenantQuerySet)
