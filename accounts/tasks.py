from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

BEAT_HEARTBEAT_KEY = "beat:heartbeat"
BEAT_HEARTBEAT_EVERY = 30

PERIODIC_TASKS = {
    "beat heartbeat": {"task": "accounts.tasks.beat_heartbeat", "every": BEAT_HEARTBEAT_EVERY},
    # Daily at 03:17 UTC: archive idle closed conversations, purge old outbox and audit rows.
    "accounts: retention": {"task": "accounts.tasks.apply_retention", "cron": "17 3 * * *"},
}


@shared_task(ignore_result=True)
def beat_heartbeat() -> None:
    """Proves to /health/ that Beat schedules and a worker runs what it schedules."""
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now().timestamp(), timeout=BEAT_HEARTBEAT_EVERY * 10)


@shared_task(ignore_result=True)
def apply_retention() -> dict:
    """Every organization's retention (``accounts/retention.py``); batches are short transactions."""
    from accounts.retention import apply_retention as run

    report = run()
    return {f"{slug}: {step}": n for (slug, step), n in report.counts.items()}
