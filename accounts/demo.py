"""Demo data for ``seed_demo``, kept apart from the command so that other apps extend it.

Each app may define ``seed_demo(stdout)`` in a ``demo`` module of its own; they run after the
accounts step, in ``INSTALLED_APPS`` order. Every step must be idempotent.
"""

from __future__ import annotations

import datetime

from accounts.demo_data import DEMO_PASSWORD, MULTI_ORG_EMAIL, ORGANIZATIONS, SUPERUSER_EMAIL
from accounts.models import BusinessHours, Department, Holiday, Membership, Organization, Queue, Skill, User
from accounts.roles import Role
from pytake.app_modules import app_submodules


def _user(email: str, full_name: str, language: str) -> User:
    user, created = User.objects.get_or_create(email=email, defaults={"full_name": full_name, "language": language})
    if created or not user.has_usable_password():
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def seed_accounts(stdout=None) -> None:
    """Organizations, users and roles, departments, queues, skills, business hours"""
    superuser, created = User.objects.get_or_create(
        email=SUPERUSER_EMAIL,
        defaults={"full_name": "Super Admin", "is_superuser": True, "is_staff": True, "language": "en"},
    )
    if created:
        superuser.set_password(DEMO_PASSWORD)
        superuser.save(update_fields=["password"])
    multi = _user(MULTI_ORG_EMAIL, "Marina Multi", "pt-br")

    for spec in ORGANIZATIONS:
        org, _ = Organization.objects.update_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "time_zone": spec["time_zone"],
                "locale": spec["locale"],
                "plan": spec["plan"],
                "currency": spec.get("currency", "BRL"),
                "trial_ends_at": None,  # on their plan: never read-only however old the demo data is
            },
        )
        skills = {name: Skill.objects.get_or_create(organization=org, name=name)[0] for name in spec["skills"]}
        memberships = []
        for email, full_name, role in spec["members"]:
            user = _user(email, full_name, spec["locale"])
            membership, _ = Membership.objects.update_or_create(organization=org, user=user, defaults={"role": role})
            memberships.append(membership)
        multi_membership, _ = Membership.objects.get_or_create(
            organization=org, user=multi, defaults={"role": Role.AGENT}
        )
        memberships.append(multi_membership)
        agents = [m for m in memberships if m.role == Role.AGENT]
        for index, agent in enumerate(agents):
            agent.skills.set([list(skills.values())[index % len(skills)]])

        for weekday in range(5):
            BusinessHours.objects.get_or_create(
                organization=org, weekday=weekday, start=datetime.time(8), defaults={"end": datetime.time(12)}
            )
            BusinessHours.objects.get_or_create(
                organization=org, weekday=weekday, start=datetime.time(13), defaults={"end": datetime.time(18)}
            )
        BusinessHours.objects.get_or_create(
            organization=org, weekday=5, start=datetime.time(9), defaults={"end": datetime.time(13)}
        )
        year = datetime.date.today().year
        for month, day, name in [(1, 1, "New Year"), (12, 25, "Christmas")]:
            for y in (year, year + 1):
                Holiday.objects.get_or_create(
                    organization=org, date=datetime.date(y, month, day), defaults={"name": name}
                )

        for department_name, queues in spec["departments"].items():
            department, _ = Department.objects.get_or_create(organization=org, name=department_name)
            for queue_spec in queues:
                queue_spec = dict(queue_spec)
                name = queue_spec.pop("name")
                queue, _ = Queue.objects.update_or_create(
                    organization=org, department=department, name=name, defaults=queue_spec
                )
                queue.agents.set(agents)
                if queue.routing_strategy == "skills_based":
                    queue.required_skills.set(list(skills.values())[1:2])
        if stdout is not None:
            stdout.write(f"  {org.name} ({org.slug}): {len(memberships)} members")


def seed_steps():
    steps = [seed_accounts]
    for module in app_submodules("demo"):
        if module.__name__ != "accounts.demo" and hasattr(module, "seed_demo"):
            steps.append(module.seed_demo)
    return steps
