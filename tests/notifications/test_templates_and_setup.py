"""Every event type renders in English and pt-BR; periodic job, demo data and migrations are in place."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.demo import seed_accounts
from accounts.models import Organization
from notifications import services
from notifications.demo import seed_demo
from notifications.models import NotificationLog
from notifications.registry import staff_event_types
from pytake.periodic import declared_periodic_tasks, install_periodic_tasks

pytestmark = pytest.mark.django_db

SAMPLE = {
    "contact_name": "Ana Souza",
    "contact_phone": "+5511987654321",
    "queue_name": "Geral",
    "conversation_id": 12,
    "conversation_url": "https://pytake.test/inbox/?c=12",
    "agent_name": "Bruno",
    "kind_label": "First response",
    "due_at": timezone.now(),
    "closed_by_name": "Carla",
    "open_conversations": 3,
    "campaign_name": "Black Friday",
    "error": "quota exceeded",
    "service_name": "Consulta",
    "provider_name": "Dra. Paula",
    "starts_at": timezone.now() + datetime.timedelta(days=1),
    "previous_starts_at": timezone.now(),
    "reason": "imprevisto",
    "appointment_url": "https://pytake.test/book/manage/abc/",
    "title": "Custom title",
    "body": "Custom body",
    "requested_at": timezone.now(),
}


@pytest.mark.parametrize("language", ["en", "pt-br"])
@pytest.mark.parametrize("event_type", [e.name for e in staff_event_types()])
def test_every_event_type_renders_subject_text_and_html(tenant_a, event_type, language):
    user = tenant_a.admin
    user.language = language
    user.save(update_fields=["language"])
    [row] = services.notify(
        organization=tenant_a.org, event_type=event_type, recipients=[user], channels=["email"], context=SAMPLE
    )
    assert row.subject and "\n" not in row.subject and "{" not in row.subject
    assert row.message and "<" not in row.message.replace("<notification", "")
    assert row.html.lstrip().startswith("<!DOCTYPE html>") and "</html>" in row.html
    greeting = "Hello" if language == "en" else "Olá"
    assert greeting in row.message and greeting in row.html


def test_relay_is_a_declared_periodic_job_installed_in_beat():
    declared = declared_periodic_tasks()
    assert declared["notifications relay and deferred release"]["task"] == "notifications.tasks.relay_notifications"
    install_periodic_tasks()
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.get(name="notifications relay and deferred release").interval.every > 0


def test_seed_demo_is_idempotent():
    out = StringIO()
    seed_accounts(stdout=out)
    seed_demo(stdout=out)
    count = NotificationLog.objects.count()
    assert count > 0
    seed_demo(stdout=out)
    assert NotificationLog.objects.count() == count
    assert Organization.objects.exists()


def test_migrations_are_complete():
    call_command("makemigrations", "notifications", "--check", "--dry-run", stdout=StringIO())
