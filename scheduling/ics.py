"""Calendar files and links for an appointment: an iCalendar (.ics) event and Google/Outlook links."""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

import icalendar
from django.conf import settings

UTC = datetime.UTC


def event_uid(appointment) -> str:
    """Stable per appointment: a calendar that imported it updates the same event."""
    return f"{appointment.public_id}@pytake"


def _title(appointment) -> str:
    return f"{appointment.service.name} · {appointment.organization.name}"


def _description(appointment, manage_url: str = "") -> str:
    parts = [appointment.service.name]
    if appointment.provider_id:
        parts.append(appointment.provider.get_full_name())
    if manage_url:
        parts.append(manage_url)
    return "\n".join(parts)


def appointment_ics(appointment, *, manage_url: str = "", cancelled: bool = False) -> bytes:
    """An iCalendar object with one event; ``METHOD:CANCEL`` and ``STATUS:CANCELLED`` when cancelled."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//PyTake//Scheduling//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    event = icalendar.Event()
    event.add("uid", event_uid(appointment))
    event.add("dtstamp", datetime.datetime.now(UTC).replace(microsecond=0))
    event.add("dtstart", appointment.start.astimezone(UTC))
    event.add("dtend", appointment.end.astimezone(UTC))
    event.add("summary", _title(appointment))
    event.add("description", _description(appointment, manage_url))
    event.add("location", appointment.organization.name)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("sequence", 1 if cancelled else 0)
    organizer = icalendar.vCalAddress(f"mailto:{settings.DEFAULT_FROM_EMAIL.rsplit('<', 1)[-1].rstrip('>')}")
    organizer.params["cn"] = icalendar.vText(appointment.organization.name)
    event.add("organizer", organizer)
    if appointment.customer_email:
        attendee = icalendar.vCalAddress(f"mailto:{appointment.customer_email}")
        attendee.params["cn"] = icalendar.vText(appointment.customer_name)
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        event.add("attendee", attendee, encode=0)
    if manage_url:
        event.add("url", manage_url)
    calendar.add_component(event)
    return calendar.to_ical()


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def google_calendar_url(appointment, *, manage_url: str = "") -> str:
    query = urlencode(
        {
            "action": "TEMPLATE",
            "text": _title(appointment),
            "dates": f"{_stamp(appointment.start)}/{_stamp(appointment.end)}",
            "details": _description(appointment, manage_url),
            "location": appointment.organization.name,
        }
    )
    return f"https://calendar.google.com/calendar/render?{query}"


def outlook_calendar_url(appointment, *, manage_url: str = "") -> str:
    query = urlencode(
        {
            "path": "/calendar/action/compose",
            "rru": "addevent",
            "subject": _title(appointment),
            "startdt": appointment.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "enddt": appointment.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "body": _description(appointment, manage_url),
            "location": appointment.organization.name,
        }
    )
    return f"https://outlook.live.com/calendar/0/deeplink/compose?{query}"
