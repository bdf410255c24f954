"""Demo data of the conversations app, run by ``manage.py seed_demo`` after the accounts step.

Per demo organization: a console channel and a WhatsApp channel (demo credentials; point
``WHATSAPP_GRAPH_BASE_URL`` at a stand-in to see sends succeed) with approved message templates
(appointment confirmation, reminder with Confirm/Cancel buttons, cancellation, reschedule,
follow-up, and a marketing offer, in pt_BR and en_US), tags, two dozen contacts, and
conversations in every status and priority with a few hundred messages of history.
Conversations are opened through the services (routing, SLA); the history of each is written
as already delivered so that loading the demo does not queue hundreds of sends. Idempotent:
an organization whose demo channel already has conversations is left as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db.models import Max
from django.utils import timezone

from accounts.models import Membership, Organization, Queue
from accounts.roles import Role
from conversations import services
from conversations.models import (
    AuthorType,
    Channel,
    ChannelKind,
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    MessageKind,
    Status,
    Tag,
    TemplateCategory,
    TemplateParameterFormat,
    TemplateQuality,
    TemplateStatus,
    WhatsAppTemplate,
)

DEMO_SLUGS = ("acme", "globex")
CONTACTS_PER_ORG = 24

FIRST_NAMES = [
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elisa",
    "Fábio",
    "Gabriela",
    "Heitor",
    "Isabela",
    "João",
    "Karina",
    "Lucas",
    "Mariana",
    "Nicolas",
    "Olívia",
    "Paulo",
    "Quésia",
    "Rafael",
    "Sofia",
    "Tiago",
    "Úrsula",
    "Vitor",
    "Wanda",
    "Yasmin",
]
LAST_NAMES = ["Silva", "Souza", "Oliveira", "Santos", "Pereira", "Lima", "Costa", "Almeida"]
CUSTOMER_LINES = [
    "Olá, gostaria de marcar uma consulta.",
    "Qual o valor da consulta?",
    "Vocês atendem convênio?",
    "Preciso remarcar meu horário de amanhã.",
    "Obrigado pelo retorno!",
    "Pode me enviar o endereço?",
]
AGENT_LINES = [
    "Olá! Claro, posso ajudar. Qual o melhor dia para você?",
    "A consulta custa R$ 250,00.",
    "Sim, atendemos os principais convênios.",
    "Remarcado! Você receberá a confirmação em instantes.",
    "Disponha!",
]
# Globex works in English, in Lisbon: English names and lines, Portuguese (+351) numbers.
FIRST_NAMES_EN = ["Olivia", "Noah", "Emma", "Liam", "Ava", "Ethan", "Mia", "Lucas", "Chloe", "James", "Grace", "Leo"]
LAST_NAMES_EN = ["Brown", "Silva", "Costa", "Ferreira", "Smith", "Martins", "Walker", "Pereira"]
CUSTOMER_LINES_EN = [
    "Hi, I have a question about my invoice.",
    "Is there any slot available next week?",
    "My order arrived damaged, what can I do?",
    "Can I change the delivery address?",
    "Thanks, that solved it.",
    "Could you send me the receipt again?",
]
AGENT_LINES_EN = [
    "Hello! Let me check that for you.",
    "I have Tuesday at 10:00 or Thursday at 15:00.",
    "The consultation is €60.",
    "Done! You will get the confirmation in a moment.",
    "Glad to help — anything else?",
]


def _english(org: Organization) -> bool:
    return org.locale == "en"


# (status, priority, assigned?) cycled over the contacts: every status and priority appears.
PLAN = [
    (Status.OPEN, "medium", False),
    (Status.OPEN, "high", True),
    (Status.OPEN, "urgent", False),
    (Status.PENDING, "low", True),
    (Status.CLOSED, "medium", True),
    (Status.ARCHIVED, "low", True),
    (Status.OPEN, "low", True),
    (Status.CLOSED, "high", True),
]


def _phone(org_index: int, n: int, org: Organization | None = None) -> str:
    if org is not None and _english(org):
        return f"+35193{org_index:01d}{n:06d}"  # Portuguese mobiles (93x)
    return f"+55119{org_index:02d}{n:06d}"


def _channels(org: Organization, org_index: int, queue: Queue | None) -> tuple[Channel, Channel]:
    console, _ = Channel.objects.get_or_create(
        organization=org, name="Console", defaults={"kind": ChannelKind.CONSOLE, "default_queue": queue}
    )
    digest = hashlib.sha256(org.slug.encode()).hexdigest()
    whatsapp, _ = Channel.objects.get_or_create(
        organization=org,
        name="WhatsApp",
        defaults={
            "kind": ChannelKind.WHATSAPP,
            "default_queue": queue,
            "display_phone": f"+35121{org_index:03d}0000" if _english(org) else f"+5511955{org_index:02d}0000",
            "phone_number_id": f"1099{org_index:02d}{int(digest[:8], 16) % 10**9:09d}",
            "access_token": f"demo-access-token-{org.slug}",
            "app_secret": f"demo-app-secret-{org.slug}",
            "verify_token": f"demo-verify-{org.slug}",
        },
    )
    if not whatsapp.business_account_id:
        whatsapp.business_account_id = f"1021{org_index:02d}{int(digest[8:16], 16) % 10**9:09d}"
        whatsapp.save(update_fields=["business_account_id"])
    return console, whatsapp


def _named(kind: str, text: str, examples: dict[str, str]) -> dict:
    return {
        "type": kind,
        "text": text,
        "example": {
            f"{kind.lower()}_text_named_params": [{"param_name": k, "example": v} for k, v in examples.items()]
        },
    }


def _positional_body(text: str, *examples: str) -> dict:
    return {"type": "BODY", "text": text, "example": {"body_text": [list(examples)]}}


def _demo_templates(org: Organization) -> list[tuple[str, str, str, str, list[dict]]]:
    """(name, language, category, parameter format, components) of the demo templates."""
    site = f"https://{org.slug}.example.com"
    names = {"customer_name": "Ana", "service": "Consulta", "starts_at": "12/03/2026 14:30"}
    names_en = {"customer_name": "Ana", "service": "Consultation", "starts_at": "03/12/2026 2:30 PM"}
    named, positional = TemplateParameterFormat.NAMED, TemplateParameterFormat.POSITIONAL
    utility, marketing = TemplateCategory.UTILITY, TemplateCategory.MARKETING
    footer = {"type": "FOOTER", "text": org.name[:60]}
    return [
        (
            "appointment_confirmation",
            "pt_BR",
            utility,
            named,
            [
                _named(
                    "BODY",
                    "Olá, {{customer_name}}! Seu agendamento de {{service}} está confirmado para {{starts_at}}. Até lá!",
                    names,
                ),
                footer,
            ],
        ),
        (
            "appointment_confirmation",
            "en_US",
            utility,
            named,
            [
                _named(
                    "BODY",
                    "Hi {{customer_name}}, your {{service}} appointment is confirmed for {{starts_at}}. See you then!",
                    names_en,
                ),
                footer,
            ],
        ),
        (
            "appointment_reminder",
            "pt_BR",
            utility,
            named,
            [
                {"type": "HEADER", "format": "TEXT", "text": "Lembrete de agendamento"},
                _named(
                    "BODY",
                    "Olá, {{customer_name}}! Lembrete: {{service}} em {{starts_at}}. Você confirma sua presença?",
                    names,
                ),
                footer,
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "Confirmar"},
                        {"type": "QUICK_REPLY", "text": "Cancelar"},
                    ],
                },
            ],
        ),
        (
            "appointment_reminder",
            "en_US",
            utility,
            named,
            [
                {"type": "HEADER", "format": "TEXT", "text": "Appointment reminder"},
                _named(
                    "BODY",
                    "Hi {{customer_name}}! A reminder: {{service}} on {{starts_at}}. Can you confirm you are coming?",
                    names_en,
                ),
                footer,
                {
                    "type": "BUTTONS",
                    "buttons": [{"type": "QUICK_REPLY", "text": "Confirm"}, {"type": "QUICK_REPLY", "text": "Cancel"}],
                },
            ],
        ),
        (
            "appointment_cancelled",
            "pt_BR",
            utility,
            positional,
            [
                _positional_body(
                    "Olá, {{1}}. Seu agendamento de {{2}} em {{3}} foi cancelado. "
                    "Para marcar um novo horário, responda esta mensagem.",
                    "Ana",
                    "Consulta",
                    "12/03/2026 14:30",
                ),
                footer,
            ],
        ),
        (
            "appointment_cancelled",
            "en_US",
            utility,
            positional,
            [
                _positional_body(
                    "Hi {{1}}, your {{2}} appointment on {{3}} was cancelled. Reply to this message to book a new time.",
                    "Ana",
                    "Consultation",
                    "03/12/2026 2:30 PM",
                ),
                footer,
            ],
        ),
        (
            "appointment_rescheduled",
            "pt_BR",
            utility,
            positional,
            [
                _positional_body(
                    "Olá, {{1}}. Seu agendamento de {{2}} foi remarcado para {{3}}. "
                    "Se o novo horário não servir, responda esta mensagem.",
                    "Ana",
                    "Consulta",
                    "13/03/2026 10:00",
                ),
                footer,
            ],
        ),
        (
            "appointment_rescheduled",
            "en_US",
            utility,
            positional,
            [
                _positional_body(
                    "Hi {{1}}, your {{2}} appointment was moved to {{3}}. If the new time does not suit you, reply here.",
                    "Ana",
                    "Consultation",
                    "03/13/2026 10:00 AM",
                ),
                footer,
            ],
        ),
        (
            "appointment_follow_up",
            "pt_BR",
            utility,
            named,
            [
                _named(
                    "BODY",
                    "Olá, {{customer_name}}! Obrigado pela visita ({{service}}). Conte como foi o atendimento.",
                    {"customer_name": "Ana", "service": "Consulta"},
                ),
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {
                            "type": "URL",
                            "text": "Avaliar",
                            "url": site + "/avaliar/{{1}}",
                            "example": [site + "/avaliar/8123"],
                        }
                    ],
                },
            ],
        ),
        (
            "appointment_follow_up",
            "en_US",
            utility,
            named,
            [
                _named(
                    "BODY",
                    "Hi {{customer_name}}, thank you for your visit ({{service}}). Tell us how it went.",
                    {"customer_name": "Ana", "service": "Consultation"},
                ),
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {
                            "type": "URL",
                            "text": "Rate us",
                            "url": site + "/rate/{{1}}",
                            "example": [site + "/rate/8123"],
                        }
                    ],
                },
            ],
        ),
        (
            "monthly_offer",
            "pt_BR",
            marketing,
            positional,
            [
                {
                    "type": "HEADER",
                    "format": "TEXT",
                    "text": "Ofertas de {{1}}",
                    "example": {"header_text": ["março"]},
                },
                _positional_body(
                    "Olá, {{1}}! Neste mês, {{2}} de desconto em todos os serviços. Agende pelo botão abaixo.",
                    "Ana",
                    "15%",
                ),
                {"type": "FOOTER", "text": "Responda PARAR para não receber ofertas."},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "URL", "text": "Agendar", "url": f"{site}/book"},
                        {"type": "QUICK_REPLY", "text": "Parar ofertas"},
                    ],
                },
            ],
        ),
        (
            "monthly_offer",
            "en_US",
            marketing,
            positional,
            [
                {
                    "type": "HEADER",
                    "format": "TEXT",
                    "text": "{{1}} offers",
                    "example": {"header_text": ["March"]},
                },
                _positional_body(
                    "Hi {{1}}! This month, {{2}} off every service. Book with the button below.", "Ana", "15%"
                ),
                {"type": "FOOTER", "text": "Reply STOP to stop offers."},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "URL", "text": "Book now", "url": f"{site}/book"},
                        {"type": "QUICK_REPLY", "text": "Stop offers"},
                    ],
                },
            ],
        ),
    ]


def _templates(org: Organization, channel: Channel) -> int:
    """The demo templates, approved as if synced from Meta; updated in place on a second run."""
    now = timezone.now()
    specs = _demo_templates(org)
    for name, language, category, parameter_format, components in specs:
        digest = hashlib.sha256(f"{org.slug}:{name}:{language}".encode()).hexdigest()
        WhatsAppTemplate.objects.update_or_create(
            channel=channel,
            name=name,
            language=language,
            defaults={
                "organization": org,
                "provider_id": str(int(digest[:12], 16)),
                "category": category,
                "parameter_format": parameter_format,
                "status": TemplateStatus.APPROVED,
                "quality_rating": TemplateQuality.GREEN,
                "components": components,
                "last_synced_at": now,
            },
        )
    return len(specs)


def _history(
    conversation: Conversation, agent: Membership | None, start: dt.datetime, length: int, seed: int, english: bool
) -> None:
    messages = []
    for k in range(length):
        inbound = k % 2 == 0 or agent is None
        lines = (
            (CUSTOMER_LINES_EN if inbound else AGENT_LINES_EN)
            if english
            else (CUSTOMER_LINES if inbound else AGENT_LINES)
        )
        messages.append(
            Message(
                organization_id=conversation.organization_id,
                conversation=conversation,
                direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
                author_type=AuthorType.CONTACT if inbound else AuthorType.AGENT,
                author=None if inbound else agent.user,
                kind=MessageKind.TEXT,
                body=lines[(seed + k) % len(lines)],
                delivery_status=DeliveryStatus.DELIVERED
                if inbound
                else (DeliveryStatus.READ if k < length - 1 else DeliveryStatus.DELIVERED),
                provider_message_id=f"wamid.demo-{conversation.pk}-{k}",
            )
        )
    if seed % 5 == 0 and agent is not None:
        messages.append(
            Message(
                organization_id=conversation.organization_id,
                conversation=conversation,
                direction=Direction.OUTBOUND,
                author_type=AuthorType.AGENT,
                author=agent.user,
                kind=MessageKind.TEXT,
                is_internal_note=True,
                body="Internal note: returning customer, prioritise."
                if english
                else "Nota interna: cliente recorrente, priorizar.",
                delivery_status=DeliveryStatus.SENT,
            )
        )
    created = Message.objects.bulk_create(messages)
    for k, message in enumerate(created):
        at = start + dt.timedelta(minutes=3 * k)
        Message.objects.filter(pk=message.pk).update(created_at=at, sent_at=at, delivered_at=at)
    last = Message.objects.filter(conversation=conversation).aggregate(last=Max("created_at"))["last"]
    first_reply = (
        Message.objects.filter(conversation=conversation, author_type=AuthorType.AGENT, is_internal_note=False)
        .order_by("created_at")
        .first()
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=last,
        first_response_at=first_reply.created_at if first_reply else None,
    )


def seed_demo(stdout=None) -> None:
    """Conversations: channels, contacts, conversations in every status, message history"""
    now = timezone.now()
    for org_index, slug in enumerate(DEMO_SLUGS, start=1):
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            continue
        queues = list(Queue.objects.for_organization(org).order_by("-priority", "name"))
        console, whatsapp = _channels(org, org_index, queues[-1] if queues else None)
        template_count = _templates(org, whatsapp)
        if stdout is not None:
            stdout.write(f"  {org.name}: {template_count} approved WhatsApp templates")
        if Conversation.objects.for_organization(org).filter(channel__in=[console, whatsapp]).exists():
            if stdout is not None:
                stdout.write(f"  {org.name}: conversations present, left as they are")
            continue
        tags = [
            Tag.objects.get_or_create(organization=org, name=name, defaults={"color": color})[0]
            for name, color in (
                (("VIP", "#d97706"), ("New", "#2563eb"), ("Returning", "#059669"))
                if _english(org)
                else (("VIP", "#d97706"), ("Novo", "#2563eb"), ("Retorno", "#059669"))
            )
        ]
        agents = list(
            Membership.objects.for_organization(org).filter(role=Role.AGENT).select_related("user").order_by("pk")
        )
        message_count = 0
        for n in range(CONTACTS_PER_ORG):
            first, last = (FIRST_NAMES_EN, LAST_NAMES_EN) if _english(org) else (FIRST_NAMES, LAST_NAMES)
            name = f"{first[n % len(first)]} {last[(n * 3 + org_index) % len(last)]}"
            contact, _created = services.contact_get_or_create_by_phone(
                organization=org, phone=_phone(org_index, n, org), name=name
            )
            contact.tags.set([tags[n % len(tags)]] if n % 4 else [])
            status, priority, assigned = PLAN[n % len(PLAN)]
            queue = queues[n % len(queues)] if queues else None
            channel = whatsapp if n % 3 else console
            conversation = services.conversation_open(
                contact=contact, channel=channel, queue=queue, priority=priority, auto_assign=False
            )
            agent = agents[n % len(agents)] if agents and assigned else None
            if agent is not None:
                services.conversation_assign(conversation=conversation, membership=agent)
            start = now - dt.timedelta(hours=CONTACTS_PER_ORG - n, minutes=7 * n)
            length = 6 + (n * 5) % 14
            _history(conversation, agent, start, length, seed=n, english=_english(org))
            message_count += length
            if status == Status.PENDING:
                services.conversation_set_pending(conversation=conversation)
            elif status in (Status.CLOSED, Status.ARCHIVED):
                services.conversation_close(conversation=conversation, by=agent.user if agent else None)
                if status == Status.ARCHIVED:
                    services.conversation_archive(conversation=conversation)
        if stdout is not None:
            stdout.write(
                f"  {org.name}: {CONTACTS_PER_ORG} contacts, {CONTACTS_PER_ORG} conversations, ~{message_count} messages; "
                f"WhatsApp webhook /webhooks/whatsapp/{whatsapp.public_id}/"
            )
