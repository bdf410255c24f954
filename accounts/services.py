"""Every write of the accounts app."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.limits import plan_limit_check
from accounts.models import AgentStatus, APIToken, APITokenKind, Department, Membership, Organization, Queue, User
from accounts.roles import Role
from pytake.events import Event, dispatch


@transaction.atomic
def organization_create(
    *, name: str, slug: str, time_zone: str = "America/Sao_Paulo", locale: str = "pt-br", plan: str = "free"
) -> Organization:
    organization = Organization(name=name, slug=slug, time_zone=time_zone, locale=locale, plan=plan)
    organization.full_clean()
    organization.save()
    return organization


@transaction.atomic
def member_add(
    *,
    organization: Organization,
    email: str,
    role: str = Role.AGENT,
    full_name: str = "",
    password: str | None = None,
    by: User | None = None,
) -> Membership:
    """Add a person to an organization, creating their user when the email is new.

    The plan's user limit is checked with the organization row locked
    (``accounts.limits.plan_limit_check``), so two concurrent additions cannot both pass it.
    """
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None and Membership.objects.filter(organization=organization, user=user).exists():
        raise ValidationError(
            _("%(email)s is already a member of %(org)s.") % {"email": email, "org": organization.name},
            code="duplicate_member",
        )
    plan_limit_check(organization=organization, resource="users")
    if user is None:
        user = User.objects.create_user(
            email=email, password=password, full_name=full_name, language=organization.locale
        )
    return membership_create(organization=organization, user=user, role=role, by=by)


@transaction.atomic
def membership_create(
    *, organization: Organization, user: User, role: str = Role.AGENT, by: User | None = None
) -> Membership:
    """Give an existing user a role in ``organization``, within the plan's user limit."""
    plan_limit_check(organization=organization, resource="users")
    membership = Membership(organization=organization, user=user, role=role)
    membership.full_clean()
    membership.save()
    if by is not None:
        audit.record(
            organization=organization,
            actor=by,
            action="membership.created",
            obj=membership,
            changes={"role": [None, role]},
            metadata={"user_id": user.pk},
        )
    return membership


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, by: User | None = None) -> Membership:
    if role not in Role.values:
        raise ValidationError(_("Unknown role: %(role)s") % {"role": role}, code="invalid_role")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    if previous != role:
        audit.record(
            organization=membership.organization_id,
            actor=by,
            action="membership.role_changed",
            obj=membership,
            changes={"role": [previous, role]},
        )
    return membership


@transaction.atomic
def agent_set_status(*, membership: Membership, status: str) -> Membership:
    if status not in AgentStatus.values:
        raise ValidationError(_("Unknown status: %(status)s") % {"status": status}, code="invalid_status")
    if membership.role == Role.VIEWER:
        raise ValidationError(_("Viewers do not take conversations and have no agent status."), code="viewer_status")
    now = timezone.now()
    previous = membership.status
    membership.status = status
    membership.status_changed_at = now
    membership.last_seen_at = now
    membership.save(update_fields=["status", "status_changed_at", "last_seen_at"])
    if status == AgentStatus.OFFLINE and previous != AgentStatus.OFFLINE:
        dispatch(
            Event(
                "agent.offline",
                organization_id=membership.organization_id,
                payload={"user_id": membership.user_id, "membership_id": membership.pk},
            )
        )
    return membership


@transaction.atomic
def department_create(*, organization: Organization, name: str, description: str = "") -> Department:
    department = Department(organization=organization, name=name, description=description)
    department.full_clean()
    department.save()
    return department


@transaction.atomic
def queue_create(*, department: Department, name: str, **fields) -> Queue:
    queue = Queue(organization=department.organization, department=department, name=name, **fields)
    queue.full_clean()
    queue.save()
    return queue


# --- API tokens ------------------------------------------------------------------------------------

TOKEN_LAST_USED_EVERY = 60  # seconds: ``last_used_at`` is written at most this often per token


def _token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *,
    organization: Organization,
    user: User,
    name: str,
    scopes: list[str],
    kind: str = "organization",
    expires_at=None,
    rate_limit_per_minute: int | None = None,
    by: User | None = None,
) -> tuple[APIToken, str]:
    """Issue a token; returns ``(row, token)`` — the token itself exists only in this answer."""
    import secrets

    from pytake.api.principal import SCOPES

    errors = {}
    membership = Membership.objects.filter(organization=organization, user=user).first()
    if membership is None and not user.is_superuser:
        errors["user"] = _("The token's user must be a member of the organization.")
    if (
        kind == APITokenKind.ORGANIZATION
        and not user.is_superuser
        and (membership is None or membership.role != Role.ORG_ADMIN)
    ):
        errors["user"] = _("Organization tokens are issued by an organization admin.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        errors["scopes"] = _("Unknown scopes: %(scopes)s.") % {"scopes": ", ".join(unknown)}
    if not scopes:
        errors["scopes"] = _("Choose at least one scope.")
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = _("The expiry must be in the future.")
    if errors:
        raise ValidationError(errors)
    prefix = secrets.token_hex(6)
    token = f"ptk_{prefix}_{secrets.token_urlsafe(32)}"
    row = APIToken(
        organization=organization,
        user=user,
        kind=kind,
        name=name.strip(),
        prefix=prefix,
        token_hash=_token_hash(token),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    row.full_clean()
    row.save()
    audit.record(
        organization=organization,
        actor=by or user,
        action="api_token.created",
        obj=row,
        metadata={"kind": kind, "scopes": row.scopes, "acts_as": user.pk},
    )
    return row, token


@transaction.atomic
def api_token_revoke(*, token: APIToken, by: User | None = None) -> APIToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = by
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(organization=token.organization_id, actor=by, action="api_token.revoked", obj=token)
    return token


def api_token_authenticate(*, token: str) -> tuple[APIToken, Membership | None] | None:
    """The active token ``token`` and the membership it acts with, or ``None`` (unknown, revoked,
    expired, or its user may no longer use it). Records ``last_used_at`` (at most once a minute)."""
    import hmac

    parts = token.split("_", 2)  # the secret itself may hold "_"
    if len(parts) != 3 or parts[0] != "ptk" or not parts[1] or len(parts[1]) > 16:
        return None
    row = (
        APIToken.objects.select_related("organization", "user").filter(prefix=parts[1], revoked_at__isnull=True).first()
    )
    if row is None or not hmac.compare_digest(row.token_hash, _token_hash(token)):
        return None
    now = timezone.now()
    if (row.expires_at is not None and row.expires_at <= now) or not row.user.is_active:
        return None
    membership = (
        Membership.objects.select_related("organization", "user")
        .filter(organization=row.organization, user=row.user)
        .first()
    )
    if membership is None and not row.user.is_superuser:
        return None
    if row.kind == APITokenKind.ORGANIZATION and not row.user.is_superuser and membership.role != Role.ORG_ADMIN:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= TOKEN_LAST_USED_EVERY:
        APIToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row, membership
