"""End to end in headless Chromium: the public booking flow, the manage link, the staff calendar."""

from __future__ import annotations

import datetime

import pytest

from scheduling import services
from scheduling.models import Appointment, AppointmentStatus
from tests import factories as base
from tests.browser import browser, log_in, page, screenshot  # noqa: F401
from tests.scheduling import factories


@pytest.fixture
def clinic(settings):
    settings.SCHEDULING_BOOKING_MIN_FILL_SECONDS = 0
    settings.SCHEDULING_BOOKING_RATE_LIMIT = 1000
    org = base.organization(name="Clínica Sol", slug="clinica-sol", time_zone="America/Sao_Paulo")
    factories.settings(org, minimum_notice_minutes=60, change_notice_minutes=60)
    admin = base.member(org, "org_admin", email="admin@clinica.test", full_name="Ana Admin")
    type(admin.user).objects.filter(pk=admin.user_id).update(
        language="en"
    )  # staff pages in English, the customer's in pt-BR
    prov = factories.provider(org, full_name="Dra. Beatriz Lima", email="bia@clinica.test")
    factories.service(
        org,
        name="Consulta inicial",
        duration=60,
        price="200.00",
        providers=[prov],
        buffer_after_minutes=15,
        description="Primeira consulta com avaliação completa.",
    )
    factories.service(org, name="Retorno", duration=30, price="120.00", providers=[prov])
    return org, admin, prov


def _book(page, url, name, phone, email):
    page.goto(url)
    page.click("a.service-option:has-text('Consulta inicial')")
    page.wait_for_selector("a.day-option")
    screenshot(page, f"scheduling-book-dates-{name.split()[0].lower()}")
    page.locator("a.day-option").nth(2).click()
    page.wait_for_selector("a.slot-option")
    screenshot(page, f"scheduling-book-slots-{name.split()[0].lower()}")
    page.locator("a.slot-option").first.click()
    page.wait_for_selector("#id_name")
    page.fill("#id_name", name)
    page.fill("#id_phone", phone)
    page.fill("#id_email", email)
    screenshot(page, f"scheduling-book-details-{name.split()[0].lower()}")
    page.click("#confirm-booking")
    page.wait_for_url("**/booked/**")


def _collect_errors(page) -> list:
    errors: list = []
    page.on(
        "console",
        lambda message: (
            errors.append(f"{page.url} {message.location} {message.text}") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(f"{page.url} {error}"))
    return errors


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_public_booking_and_manage_link_in_english(live_server, page, clinic):  # noqa: F811
    org, admin, prov = clinic
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server.url}/book/{org.slug}/")
    assert page.locator("h1").inner_text() == "Book with Clínica Sol"
    screenshot(page, "scheduling-book-services-en")
    _book(page, f"{live_server.url}/book/{org.slug}/", "Carlos Pereira", "+55 11 98877-6655", "carlos@example.com")
    assert "Thank you! Your booking is received." in page.content()
    assert (
        page.locator("a:has-text('Add to Google Calendar')")
        .get_attribute("href")
        .startswith("https://calendar.google.com/")
    )
    screenshot(page, "scheduling-booked-en")
    appointment = Appointment.objects.get(organization=org)
    assert appointment.customer_name == "Carlos Pereira" and appointment.source == "public"

    page.click("#manage-link")
    page.wait_for_selector("#manage-panel")
    screenshot(page, "scheduling-manage-en")
    page.click("#reschedule-link")
    page.wait_for_selector("a.day-option")
    page.locator("a.day-option").nth(3).click()
    page.wait_for_selector("button.slot-option")
    screenshot(page, "scheduling-manage-reschedule-en")
    page.locator("button.slot-option").nth(2).click()
    page.wait_for_selector("text=Your appointment was moved.")
    moved = Appointment.objects.get(rescheduled_from=appointment)
    assert moved.status == AppointmentStatus.PENDING
    screenshot(page, "scheduling-manage-moved-en")

    page.fill("#id_reason", "Travelling")
    page.click("#cancel-appointment")
    page.wait_for_selector("text=Your appointment is cancelled.")
    moved.refresh_from_db()
    assert moved.status == AppointmentStatus.CANCELLED and moved.cancellation_reason == "Travelling"
    screenshot(page, "scheduling-manage-cancelled-en")

    page.goto(f"{live_server.url}/book/{org.slug}/manage/not-a-real-token/")
    assert "This link is not valid" in page.content()
    screenshot(page, "scheduling-manage-invalid-en")
    assert [e for e in page.console_errors if "404" not in e] == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_public_booking_in_portuguese_and_the_staff_calendar(live_server, browser, clinic):  # noqa: F811
    org, admin, prov = clinic
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="pt-BR")
    pt = context.new_page()
    errors = _collect_errors(pt)
    pt.goto(f"{live_server.url}/book/{org.slug}/")
    assert pt.locator("h1").inner_text() == "Agende com Clínica Sol"
    assert "Escolha um serviço" in pt.content()
    screenshot(pt, "scheduling-book-services-pt-br")
    _book(pt, f"{live_server.url}/book/{org.slug}/", "Mariana Souza", "+55 11 97766-5544", "mariana@example.com")
    assert "Obrigado! Recebemos seu agendamento." in pt.content()
    screenshot(pt, "scheduling-booked-pt-br")
    booked = Appointment.objects.get(customer_name="Mariana Souza")

    # Someone else takes the slot while the customer fills in the form: a clear message, no error page.
    pt.goto(f"{live_server.url}/book/{org.slug}/")
    pt.click("a.service-option:has-text('Retorno')")
    pt.wait_for_selector("a.day-option")
    pt.locator("a.day-option").nth(4).click()
    pt.wait_for_selector("a.slot-option")
    pt.locator("a.slot-option").first.click()
    pt.wait_for_selector("#id_name")
    start = datetime.datetime.fromisoformat(pt.locator("input[name=start]").get_attribute("value"))
    services.appointment_book(
        organization=org,
        service=booked.service,
        provider=None,
        start=start,
        customer_name="Outra pessoa",
        customer_phone="+5511955554444",
    )
    pt.fill("#id_name", "Mariana Souza")
    pt.fill("#id_phone", "+55 11 97766-5544")
    pt.fill("#id_email", "mariana@example.com")
    pt.click("#confirm-booking")
    pt.wait_for_selector("#booking-error")
    assert "não está mais disponível" in pt.locator("#booking-error").inner_text()
    screenshot(pt, "scheduling-book-slot-taken-pt-br")
    assert errors == []
    context.close()

    staff = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = staff.new_page()
    staff_errors = _collect_errors(page)
    log_in(page, live_server.url, "admin@clinica.test", base.PASSWORD)
    day = booked.start.astimezone(org.tzinfo).date()
    page.goto(f"{live_server.url}/calendar/?date={day.isoformat()}")
    assert "Mariana Souza" in page.locator("#calendar").inner_text()
    page.click("a.appt:has-text('Mariana Souza')")
    page.wait_for_selector(f"#appointment-{booked.pk}")
    screenshot(page, "scheduling-calendar-day-en")
    page.click(f"#appointment-{booked.pk} button:text-is('Confirm')")
    page.wait_for_selector("text=Appointment confirmed.")
    booked.refresh_from_db()
    assert booked.status == AppointmentStatus.CONFIRMED
    page.click("a.btn:text-is('Week')")
    page.wait_for_selector("#calendar th:has-text('Sun')")
    assert "Mariana Souza" in page.locator("#calendar").inner_text()
    screenshot(page, "scheduling-calendar-week-en")
    # The notification badge's websocket has no server under the WSGI live server; nothing else may fail.
    assert [e for e in staff_errors if "WebSocket" not in e] == []
    staff.close()
