from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

BEAT_HEARTBEAT_KEY = "beat:heartbeat"
BEAT_HEARTBEAT_EVERY = 30

PERIODIC_TASKS = {
    "beat heartbeat": {"task": "accounts.tasks.beat_heartbeat", "every": BEAT_HEARTBEAT_EVERY},
}


@shared_task(ignore_result=True)
def beat_heartbeat() -> None:
    """Proves to /health/ that Beat schedules and a worker runs what it schedules."""
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now().timestamp(), timeout=BEAT_HEARTBEAT_EVERY * 10)
