"""End to end in headless Chromium against Daphne: the preferences page (HTMX saves, inline errors) and the live badge."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from notifications import services
from notifications.models import NotificationPreference
from tests import factories
from tests.browser import asgi_server, browser, log_in, page, screenshot  # noqa: F401


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_preferences_page_saves_each_change_and_shows_inline_errors(asgi_server, page, tenant_a):  # noqa: F811
    type(tenant_a.agent).objects.filter(pk=tenant_a.agent.pk).update(language="en")
    log_in(page, asgi_server.url, tenant_a.agent.email, factories.PASSWORD)
    page.goto(f"{asgi_server.url}/settings/notifications/")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Notification preferences"

    def saved_after(action):
        with page.expect_response(
            lambda r: r.url.endswith("/settings/notifications/") and r.request.method == "POST"
        ) as info:
            action()
        # The response event comes before htmx has swapped the form in: wait until the request,
        # swap and settle are over, or the next change lands on the form being replaced.
        page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
        return info.value

    def change(selector, value):
        page.fill(selector, value)
        page.locator(selector).dispatch_event("change")

    assert saved_after(lambda: page.uncheck("#id_email_enabled")).status == 200
    expect(page.locator(".prefs-status .ok")).to_be_visible()
    assert NotificationPreference.objects.get(user=tenant_a.agent).email_enabled is False

    saved_after(lambda: page.check("#id_quiet_hours_enabled"))
    assert saved_after(lambda: change("#id_quiet_hours_start", "22:30")).status == 200
    pref = NotificationPreference.objects.get(user=tenant_a.agent)
    assert pref.quiet_hours_enabled and str(pref.quiet_hours_start) == "22:30:00"

    saved_after(lambda: change("#id_max_emails_per_hour", "0"))
    expect(page.locator("#error-max_emails_per_hour")).to_have_text("Choose a number from 1 to 100.")
    expect(page.locator("#id_max_emails_per_hour")).to_have_attribute("aria-invalid", "true")
    assert NotificationPreference.objects.get(user=tenant_a.agent).max_emails_per_hour == 10
    screenshot(page, "notifications-preferences-error")

    assert saved_after(lambda: change("#id_max_emails_per_hour", "25")).status == 200
    expect(page.locator("#error-max_emails_per_hour")).to_have_count(0)
    assert NotificationPreference.objects.get(user=tenant_a.agent).max_emails_per_hour == 25

    page.click("text=Send me a test email")
    expect(page.locator("#test-result")).not_to_have_text("")
    expect(page.locator("#test-result")).to_contain_text("not sent")  # email is off for this user now
    screenshot(page, "notifications-preferences")
    assert page.console_errors == [], page.console_errors[:3]


def _deliver_like_a_worker(log_id: int) -> None:
    """What the worker does (push to the user's group), off this thread: sync Playwright runs an event loop here."""
    from django.db import connection

    outcome = []

    def run():
        try:
            outcome.append(services.notification_deliver(log_id=log_id).status)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert outcome == ["sent"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_live_unread_badge_updates_without_reload(asgi_server, page, tenant_a):  # noqa: F811
    type(tenant_a.agent).objects.filter(pk=tenant_a.agent.pk).update(language="en")
    tenant_a.agent.refresh_from_db()
    log_in(page, asgi_server.url, tenant_a.agent.email, factories.PASSWORD)
    badge = page.locator("[data-notification-badge]")
    expect(badge).to_have_attribute("data-live", "1")  # the websocket is open
    assert badge.is_hidden()

    for title in ("Conversation assigned to you", "SLA warning"):
        [row] = services.notify(
            organization=tenant_a.org,
            event_type="custom",
            recipients=[tenant_a.agent],
            channels=["in_app"],
            context={"title": title, "body": f"{title}: details inside."},
        )
        _deliver_like_a_worker(row.pk)
    expect(badge).to_have_text("2")
    assert badge.is_visible()
    screenshot(page, "notifications-badge-live")

    page.click("a.notif-link")
    page.wait_for_load_state("networkidle")
    expect(page.locator(".notif-item.is-unread")).to_have_count(2)
    page.locator(".notif-item").first.locator("button").click()
    expect(badge).to_have_text("1")
    page.click("text=Mark all as read")
    expect(badge).to_have_text("0")
    assert badge.is_hidden()
    expect(page.locator(".notif-item.is-unread")).to_have_count(0)
    screenshot(page, "notifications-center")
    assert page.console_errors == [], page.console_errors[:3]
