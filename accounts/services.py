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


# --- My profile -------------------------------------------------------------------------------------

PROFILE_FIELDS = ("full_name", "language", "time_zone", "signature")
AVATAR_MAX_BYTES = 1024 * 1024
_AVATAR_SIGNATURES = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"RIFF", "webp"),  # with "WEBP" at offset 8, checked below
)


def _audit_user(user: User, organization: Organization | None, action: str, changes: dict) -> None:
    """Profile changes are the person's own: recorded in the organization they were working in."""
    if organization is not None and changes:
        audit.record(organization=organization, actor=user, action=action, obj=user, changes=changes)


@transaction.atomic
def user_profile_update(*, user: User, organization: Organization | None = None, **fields) -> User:
    """Change one's own name, language, time zone or reply signature (only those)."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError(
            _("These profile fields cannot be changed here: %(f)s") % {"f": ", ".join(sorted(unknown))}
        )
    before = audit.snapshot(user, list(fields))
    for name, value in fields.items():
        setattr(user, name, (value or "").replace("\r\n", "\n").strip())
    user.full_clean(exclude=["password", "email", "avatar"])
    user.save(update_fields=list(fields))
    _audit_user(user, organization, "user.profile_updated", audit.diff(before, audit.snapshot(user, list(fields))))
    return user


def _avatar_extension(head: bytes) -> str | None:
    for magic, extension in _AVATAR_SIGNATURES:
        if head.startswith(magic) and (extension != "webp" or head[8:12] == b"WEBP"):
            return extension
    return None


@transaction.atomic
def user_avatar_set(*, user: User, file, organization: Organization | None = None) -> User:
    """A JPEG, PNG or WebP picture up to 1 MB, recognised by its bytes (not by its name)."""
    if file.size > AVATAR_MAX_BYTES:
        raise ValidationError(_("The picture is over 1 MB; choose a smaller one."), code="avatar_size")
    head = file.read(16)
    file.seek(0)
    extension = _avatar_extension(head)
    if extension is None:
        raise ValidationError(_("Upload a JPEG, PNG or WebP picture."), code="avatar_type")
    old = user.avatar.name
    user.avatar.save(f"avatar.{extension}", file, save=False)
    user.save(update_fields=["avatar"])
    if old:
        transaction.on_commit(lambda: user.avatar.storage.delete(old))
    _audit_user(user, organization, "user.avatar_changed", {"avatar": [bool(old), True]})
    return user


@transaction.atomic
def user_avatar_clear(*, user: User, organization: Organization | None = None) -> User:
    old = user.avatar.name
    if not old:
        return user
    user.avatar = ""
    user.save(update_fields=["avatar"])
    transaction.on_commit(lambda: user.avatar.storage.delete(old))
    _audit_user(user, organization, "user.avatar_changed", {"avatar": [True, False]})
    return user


@transaction.atomic
def user_password_change(*, user: User, new_password: str, organization: Organization | None = None) -> User:
    """Set a password the validators accept (the caller checked the old one)."""
    from django.contrib.auth.password_validation import validate_password

    validate_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    if organization is not None:
        audit.record(organization=organization, actor=user, action="user.password_changed", obj=user, changes={})
    return user


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
