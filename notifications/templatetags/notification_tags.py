from django import template

from notifications import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notification_count(context) -> int:
    """The current user's unread in-app notifications in the current organization (0 if none)."""
    request = context.get("request")
    organization = getattr(request, "organization", None)
    user = getattr(request, "user", None)
    if organization is None or user is None or not user.is_authenticated:
        return 0
    return selectors.unread_count(organization_id=organization.pk, user_id=user.pk)
