"""Plans and their limits. ``None`` means unlimited."""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

TRIAL_DAYS = 14


class Plan(models.TextChoices):
    FREE = "free", _("Free")
    STARTER = "starter", _("Starter")
    PROFESSIONAL = "professional", _("Professional")
    ENTERPRISE = "enterprise", _("Enterprise")


@dataclass(frozen=True)
class PlanLimits:
    users: int | None
    channels: int | None
    contacts: int | None
    appointments_per_month: int | None
    messages_per_month: int | None


PLAN_LIMITS: dict[str, PlanLimits] = {
    Plan.FREE: PlanLimits(users=3, channels=1, contacts=500, appointments_per_month=50, messages_per_month=1_000),
    Plan.STARTER: PlanLimits(
        users=10, channels=2, contacts=5_000, appointments_per_month=500, messages_per_month=10_000
    ),
    Plan.PROFESSIONAL: PlanLimits(
        users=50, channels=5, contacts=50_000, appointments_per_month=5_000, messages_per_month=100_000
    ),
    Plan.ENTERPRISE: PlanLimits(
        users=None, channels=None, contacts=None, appointments_per_month=None, messages_per_month=None
    ),
}
