"""Thin Celery wrappers around the contacts workspace's services (ids in)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def run_contact_import(import_id: int) -> str:
    """Run a queued CSV import; a second run of the same import does nothing."""
    from conversations.contacts import imports

    result = imports.import_run(import_id=import_id)
    if result is None:
        return "not queued (already run or running)"
    return f"{result.status}: {result.created_count} created, {result.updated_count} updated, {result.rejected_count} rejected"
