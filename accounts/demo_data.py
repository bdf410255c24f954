"""Demo organizations and logins, free of Django imports so that `pytake.stack` can print them."""

DEMO_PASSWORD = "pytake-demo"
SUPERUSER_EMAIL = "super@pytake.test"
MULTI_ORG_EMAIL = "multi@pytake.test"

ORGANIZATIONS = [
    {
        "slug": "acme",
        "name": "Acme Clínica",
        "time_zone": "America/Sao_Paulo",
        "locale": "pt-br",
        "currency": "BRL",
        "plan": "professional",
        "members": [
            ("admin@acme.test", "Ana Admin", "org_admin"),
            ("agent1@acme.test", "Bruno Agente", "agent"),
            ("agent2@acme.test", "Carla Agente", "agent"),
            ("viewer@acme.test", "Davi Viewer", "viewer"),
        ],
        "departments": {
            "Atendimento": [
                {
                    "name": "Geral",
                    "priority": 5,
                    "routing_strategy": "round_robin",
                    "sla_first_response_minutes": 15,
                    "sla_resolution_minutes": 240,
                },
                {
                    "name": "VIP",
                    "priority": 9,
                    "routing_strategy": "load_balance",
                    "sla_first_response_minutes": 5,
                    "sla_resolution_minutes": 120,
                    "color": "#d97706",
                    "icon": "star",
                },
            ],
            "Agendamentos": [
                {
                    "name": "Consultas",
                    "priority": 6,
                    "routing_strategy": "skills_based",
                    "sla_first_response_minutes": 30,
                    "sla_resolution_minutes": 480,
                    "color": "#059669",
                    "icon": "calendar",
                },
            ],
        },
        "skills": ["Português", "Agenda", "Financeiro"],
    },
    {
        "slug": "globex",
        "name": "Globex Support",
        "time_zone": "Europe/Lisbon",
        "locale": "en",
        "currency": "EUR",
        "plan": "starter",
        "members": [
            ("admin@globex.test", "Grace Admin", "org_admin"),
            ("agent1@globex.test", "Hugo Agent", "agent"),
            ("agent2@globex.test", "Iris Agent", "agent"),
            ("viewer@globex.test", "Jack Viewer", "viewer"),
        ],
        "departments": {
            "Support": [
                {
                    "name": "General",
                    "priority": 5,
                    "routing_strategy": "round_robin",
                    "sla_first_response_minutes": 20,
                    "sla_resolution_minutes": 480,
                },
                {
                    "name": "Billing",
                    "priority": 7,
                    "routing_strategy": "manual",
                    "sla_first_response_minutes": 60,
                    "sla_resolution_minutes": 960,
                    "color": "#7c3aed",
                    "icon": "receipt",
                },
            ],
            "Sales": [
                {
                    "name": "Leads",
                    "priority": 8,
                    "routing_strategy": "load_balance",
                    "sla_first_response_minutes": 10,
                    "sla_resolution_minutes": 240,
                    "color": "#dc2626",
                    "icon": "target",
                },
            ],
        },
        "skills": ["English", "Billing"],
    },
]


def logins_text() -> str:
    lines = [
        f"Demo logins (password for all: {DEMO_PASSWORD}):",
        f"  super admin (all organizations): {SUPERUSER_EMAIL}",
    ]
    for spec in ORGANIZATIONS:
        for email, _name, role in spec["members"]:
            lines.append(f"  {spec['name']:<16} {role:<10} {email}")
    lines.append(f"  both organizations  agent      {MULTI_ORG_EMAIL}")
    return "\n".join(lines)
