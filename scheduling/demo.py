"""Demo data for ``seed_demo``: services, provider schedules and appointments (idempotent).

Upcoming appointments are booked through ``appointment_book`` (so availability, metrics and
notifications apply); past ones — which a booking refuses — are written as history rows and
the client metrics recomputed from them. Appointments are seeded once per organization.
"""

from __future__ import annotations

import datetime
import random

from django.db import transaction
from django.utils import timezone

from accounts.models import Holiday, Membership, Organization
from accounts.roles import Role
from conversations import services as contact_services
from scheduling import availability, services
from scheduling.models import (
    Appointment,
    AppointmentSource,
    AppointmentStatus,
    SchedulingSettings,
    Service,
    ServiceCategory,
)

CATALOGUE = {
    "acme": {
        "category": "Consultas",
        "services": [
            ("Consulta inicial", 60, "200.00", 0, 15, "Primeira consulta com avaliação completa."),
            ("Retorno", 30, "120.00", 0, 10, "Consulta de acompanhamento."),
            ("Avaliação online", 45, "150.00", 5, 5, "Por videochamada."),
        ],
        "clients": [
            ("Mariana Souza", "+5511987650001"),
            ("Pedro Lima", "+5511987650002"),
            ("Juliana Rocha", "+5511987650003"),
            ("Rafael Alves", "+5511987650004"),
            ("Beatriz Nunes", "+5511987650005"),
            ("Lucas Martins", "+5511987650006"),
        ],
    },
    "globex": {
        "category": "Sessions",
        "services": [
            ("Onboarding call", 30, "0.00", 0, 10, "A guided tour of your new account."),
            ("Technical review", 60, "90.00", 10, 10, "An engineer reviews your setup with you."),
        ],
        "clients": [
            ("Olivia Brown", "+351912340001"),
            ("Noah Silva", "+351912340002"),
            ("Emma Costa", "+351912340003"),
            ("Liam Ferreira", "+351912340004"),
        ],
    },
}

WEEKDAY_WINDOWS = [(datetime.time(8), datetime.time(12)), (datetime.time(13), datetime.time(18))]
SATURDAY_WINDOWS = [(datetime.time(9), datetime.time(13))]


def seed_demo(stdout=None) -> None:
    """Services, working hours and appointments for the demo organizations"""
    for slug, spec in CATALOGUE.items():
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            continue
        with transaction.atomic():
            _seed_organization(organization, spec, stdout)


def _seed_organization(organization: Organization, spec: dict, stdout) -> None:
    services.scheduling_settings_ensure(organization=organization)
    category = ServiceCategory.objects.filter(
        organization=organization, name=spec["category"]
    ).first() or services.service_category_create(organization=organization, name=spec["category"])
    providers = list(
        Membership.objects.for_organization(organization)
        .filter(role__in=[Role.AGENT, Role.ORG_ADMIN], user__email__endswith=f"@{organization.slug}.test")
        .select_related("user")
        .order_by("user__email")
    )
    for provider in providers:
        if not provider.working_hours.exists():
            for weekday in range(5):
                services.working_hours_set(provider=provider, weekday=weekday, windows=WEEKDAY_WINDOWS)
            services.working_hours_set(provider=provider, weekday=5, windows=SATURDAY_WINDOWS)
    catalogue = []
    for name, duration, price, before, after, description in spec["services"]:
        service = Service.objects.filter(organization=organization, name=name).first() or services.service_create(
            organization=organization,
            name=name,
            duration_minutes=duration,
            price=price,
            buffer_before_minutes=before,
            buffer_after_minutes=after,
            description=description,
            category=category,
            providers=providers,
        )
        catalogue.append(service)
    if Appointment.objects.filter(organization=organization).exists():
        return
    _seed_whatsapp_templates(organization)
    rng = random.Random(organization.slug)
    _seed_history(organization, catalogue, providers, spec["clients"], rng)
    booked = _seed_upcoming(organization, catalogue, spec["clients"], rng)
    if stdout is not None:
        stdout.write(
            f"  {organization.name}: {len(catalogue)} services, {len(providers)} providers, {booked} upcoming appointments"
        )


TEMPLATE_NAMES = {
    "confirmation": "appointment_confirmation",
    "reminder": "appointment_reminder",
    "cancellation": "appointment_cancelled",
    "reschedule": "appointment_rescheduled",
    "follow_up": "appointment_follow_up",
}


def _seed_whatsapp_templates(organization: Organization) -> None:
    """Customer messages on WhatsApp: the demo's approved templates in the organization's language."""
    from conversations.models import WhatsAppTemplate

    language = "pt_BR" if organization.locale.lower().startswith("pt") else "en_US"
    rules = services.scheduling_settings_ensure(organization=organization)
    changed = []
    for kind, name in TEMPLATE_NAMES.items():
        field = SchedulingSettings.TEMPLATE_FIELDS[kind]
        if getattr(rules, f"{field}_id"):
            continue
        template = WhatsAppTemplate.objects.filter(
            organization=organization, name=name, language=language, status="approved"
        ).first()
        if template is not None:
            setattr(rules, field, template)
            changed.append(field)
    if changed:
        rules.full_clean()
        rules.save(update_fields=changed)


def _seed_history(organization, catalogue, providers, clients, rng) -> None:
    tz = organization.tzinfo
    today = timezone.now().astimezone(tz).date()
    holidays = set(Holiday.objects.for_organization(organization).values_list("date", flat=True))
    contacts = []
    for name, phone in clients:
        contact, _created = contact_services.contact_get_or_create_by_phone(
            organization=organization, phone=phone, name=name
        )
        contacts.append(contact)
    outcomes = [AppointmentStatus.COMPLETED] * 6 + [AppointmentStatus.NO_SHOW, AppointmentStatus.CANCELLED]
    for days_ago in range(3, 90, 4):
        day = today - datetime.timedelta(days=days_ago)
        if day.weekday() > 4 or day in holidays:
            continue
        provider = providers[days_ago % len(providers)]
        service = catalogue[days_ago % len(catalogue)]
        contact = contacts[days_ago % len(contacts)]
        start = datetime.datetime.combine(day, datetime.time(9 + rng.randrange(0, 3)), tzinfo=tz)
        occupied_from, end, occupied_until = availability.occupied_range(service, start)
        status = rng.choice(outcomes)
        Appointment.objects.create(
            organization=organization,
            service=service,
            provider_id=provider.user_id,
            contact=contact,
            customer_name=contact.name,
            customer_phone=contact.phone,
            customer_email=f"{contact.phone[1:]}@example.com",
            start=start,
            end=end,
            occupied_from=occupied_from,
            occupied_until=occupied_until,
            status=status,
            price=service.price,
            source=AppointmentSource.STAFF,
            completed_at=end if status == AppointmentStatus.COMPLETED else None,
            cancelled_at=start - datetime.timedelta(days=1) if status == AppointmentStatus.CANCELLED else None,
        )
    for contact in contacts:
        services.client_metrics_refresh(organization=organization, contact=contact)


def _seed_upcoming(organization, catalogue, clients, rng) -> int:
    tz = organization.tzinfo
    today = timezone.now().astimezone(tz).date()
    booked = 0
    for offset in range(1, 12):
        day = today + datetime.timedelta(days=offset)
        service = catalogue[offset % len(catalogue)]
        slots = availability.available_slots(organization=organization, service=service, date_from=day, date_to=day)
        for slot in rng.sample(slots, k=min(3, len(slots))):
            name, phone = clients[rng.randrange(len(clients))]
            try:
                appointment = services.appointment_book(
                    organization=organization,
                    service=service,
                    provider=None,
                    start=slot.start,
                    customer_name=name,
                    customer_phone=phone,
                    customer_email=f"{phone[1:]}@example.com",
                    source=AppointmentSource.STAFF,
                    confirm=rng.random() < 0.6,
                )
            except services.SchedulingError:
                continue
            booked += 1
            if appointment.status == AppointmentStatus.PENDING and rng.random() < 0.2:
                services.appointment_cancel(appointment=appointment, reason="Demo")
    return booked
