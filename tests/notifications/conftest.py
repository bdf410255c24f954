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
