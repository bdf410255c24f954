from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """A member's role in one organization. Django superusers are the super admins above all of them."""

    ORG_ADMIN = "org_admin", _("Organization admin")
    AGENT = "agent", _("Agent")
    VIEWER = "viewer", _("Viewer")


# Roles that may act on conversations (reply, assign, close); viewers only read.
ACTING_ROLES = (Role.ORG_ADMIN, Role.AGENT)
ALL_ROLES = (Role.ORG_ADMIN, Role.AGENT, Role.VIEWER)
