"""Who an API request acts as: set by ``accounts.authentication`` on ``request.auth``."""

from __future__ import annotations

from dataclasses import dataclass, field

READ, WRITE = "read", "write"

# The resources a token's scopes name: "<resource>:read" or "<resource>:write" (write includes read).
RESOURCES = (
    "contacts",
    "conversations",
    "templates",
    "campaigns",
    "scheduling",
    "notifications",
    "webhooks",
    "organization",
)
SCOPES = tuple(f"{resource}:{access}" for resource in RESOURCES for access in (READ, WRITE))


@dataclass(frozen=True)
class Principal:
    """The caller: ``kind`` is ``session``, ``personal`` (a user's token) or ``organization``.

    ``scopes`` is ``None`` for a session (the role alone decides). ``may_write`` is the role's answer
    (agents and admins act, viewers read); ``is_admin`` whether the user is an org admin there.
    ``read_only_reason`` is set when the organization cannot be changed now (its trial ended).
    """

    kind: str
    organization: object
    user: object
    membership: object | None
    may_write: bool
    is_admin: bool
    scopes: frozenset[str] | None = None
    token_id: int | None = None
    rate_limit: int | None = None
    read_only_reason: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The identity rate limits and idempotency keys are counted under."""
        if self.token_id is not None:
            return f"token:{self.token_id}"
        return f"user:{self.user.pk}:org:{self.organization.pk}"

    def has_scope(self, resource: str, access: str) -> bool:
        if self.scopes is None:
            return True
        if f"{resource}:{WRITE}" in self.scopes:
            return True
        return access == READ and f"{resource}:{READ}" in self.scopes
