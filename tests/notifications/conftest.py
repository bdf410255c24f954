import pytest


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free port, with Django's SMTP backend pointed at it."""
    from tests.notifications.smtp import SmtpServer

    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_HOST_USER = ""
        settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 0.001
        yield server


@pytest.fixture
def smtp():
    """A real SMTP server on a free port for worker processes (``workers``) to send to."""
    from tests.notifications.smtp import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture
def workers(smtp):
    """``workers(concurrency=4, prefetch_multiplier=None, **env)``: start a real Celery worker process on the
    test database, this run's Redis and the ``smtp`` server (``env`` adds to its environment); all stopped
    at the end of the test."""
    from django.conf import settings

    from tests.browser import database_url_for_tests
    from tests.notifications.worker import Worker, worker_env

    started = []

    def start(*, concurrency: int = 4, prefetch_multiplier: int | None = None, **env):
        environment = worker_env(
            database_url=database_url_for_tests(),
            redis_url=settings.REDIS_URL,
            key_prefix=settings.REDIS_KEY_PREFIX,
            smtp_port=smtp.port,
            **env,
        )
        worker = Worker(environment, concurrency=concurrency, prefetch_multiplier=prefetch_multiplier).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
