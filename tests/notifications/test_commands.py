from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from notifications import services
from notifications.models import NotificationLog, Status

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_send_test_notification_delivers_now_through_smtp(tenant_a, smtp_server):
    out = run("send_test_notification", tenant_a.agent.email, "--org", tenant_a.org.slug, "--now")
    assert "email: pending" in out and "→ sent" in out
    assert len(smtp_server.handler.messages) == 1


def test_send_test_notification_bad_arguments(tenant_a, tenant_b):
    with pytest.raises(CommandError, match="No organization"):
        run("send_test_notification", tenant_a.agent.email, "--org", "nope")
    with pytest.raises(CommandError, match="not a member"):
        run("send_test_notification", tenant_b.agent.email, "--org", tenant_a.org.slug)
    with pytest.raises(CommandError):
        run("send_test_notification", tenant_a.agent.email, "--org", tenant_a.org.slug, "--channel", "fax")


def test_retry_failed_resends_each_failed_row_once(tenant_a):
    row = services.notify(
        organization=tenant_a.org,
        event_type="custom",
        recipients=[tenant_a.agent],
        channels=["email"],
        context={"title": "x"},
    )[0]
    NotificationLog.objects.filter(pk=row.pk).update(status=Status.FAILED, error="boom")
    assert "would resend" in run("retry_failed_notifications", "--dry-run")
    assert "1 failed notification(s) queued again" in run("retry_failed_notifications", "--org", tenant_a.org.slug)
    assert "0 failed notification(s) queued again" in run("retry_failed_notifications")
    assert NotificationLog.objects.filter(metadata__resent_from=row.pk).count() == 1
    with pytest.raises(CommandError):
        run("retry_failed_notifications", "--hours", "0")


def test_notification_stats(tenant_a):
    services.notify(organization=tenant_a.org, event_type="custom", recipients=[tenant_a.agent], context={"title": "x"})
    out = run("notification_stats", "--org", tenant_a.org.slug)
    assert "pending" in out and "skipped" in out and "custom" in out and "total 5" in out
    with pytest.raises(CommandError):
        run("notification_stats", "--org", "nope")
