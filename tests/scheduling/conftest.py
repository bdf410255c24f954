from __future__ import annotations

import pytest

from tests.recording import event_recorder

NAMES = (
    "appointment.created",
    "appointment.confirmed",
    "appointment.cancelled",
    "appointment.rescheduled",
    "appointment.completed",
    "appointment.no_show",
)

recorded_events = event_recorder(
    *NAMES, doc="appointment.* events delivered to listeners while the test runs (after their commit)."
)


@pytest.fixture
def eager_celery():
    """Run Celery tasks in the calling thread (no worker in unit tests)."""
    from pytake.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def mailbox(settings):
    """A real SMTP server (aiosmtpd) with Django's SMTP backend pointed at it; yields its mailbox."""
    from tests.smtp import smtp_server

    with smtp_server() as (controller, handler):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = controller.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        yield handler
