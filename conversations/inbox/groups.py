"""Channels group names of the inbox: each starts with the tenant (``org-12.…``)."""


def inbox_group(organization_id: int) -> str:
    """Presence of one organization (every inbox tab there); events go through ``realtime``'s stream."""
    return f"org-{organization_id}.inbox"


def conversation_group(organization_id: int, conversation_id: int) -> str:
    """Typing indicators and read receipts of one conversation (tabs that subscribed to it)."""
    return f"org-{organization_id}.conversation-{conversation_id}"


def user_group(organization_id: int, user_id: int) -> str:
    """One person in one organization: notifications, the badge, personal assignments."""
    return f"org-{organization_id}.user-{user_id}"
