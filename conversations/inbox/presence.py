"""Agent presence and read receipts, kept in Redis (shared by every Daphne process), not in memory.

Each open inbox tab sends a heartbeat every ``HEARTBEAT_SECONDS``. A user's presence is the key
``presence:org-<org>:user-<user>`` (value ``online`` or ``away``) with a TTL of ``PRESENCE_TTL``
and a sorted set of their live connections scored by last heartbeat. When the last connection
closes the user goes offline at once; when a process dies without closing, the key expires and
the periodic sweep (``presence_sweep``) marks them offline. ``Membership.status`` follows through
``accounts.services.agent_set_status`` so routing sees the same state.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings

HEARTBEAT_SECONDS = 20
PRESENCE_TTL = 60
TRACKED_KEY = "presence:tracked"
READ_TTL = 60 * 60 * 24 * 30

_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return _client


def _key(*parts: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:" + ":".join(parts)


def presence_key(organization_id: int, user_id: int) -> str:
    return _key("presence", f"org-{organization_id}", f"user-{user_id}")


def _connections_key(organization_id: int, user_id: int) -> str:
    return _key("presence", f"org-{organization_id}", f"user-{user_id}", "connections")


def heartbeat(*, organization_id: int, user_id: int, connection: str, status: str) -> str | None:
    """Record a live connection's heartbeat; return the user's previous presence (``None`` if absent)."""
    now = time.time()
    pipe = client().pipeline()
    pipe.getset(presence_key(organization_id, user_id), status)
    pipe.expire(presence_key(organization_id, user_id), PRESENCE_TTL)
    pipe.zadd(_connections_key(organization_id, user_id), {connection: now})
    pipe.zremrangebyscore(_connections_key(organization_id, user_id), "-inf", now - PRESENCE_TTL)
    pipe.expire(_connections_key(organization_id, user_id), PRESENCE_TTL)
    pipe.sadd(_key(TRACKED_KEY), f"{organization_id}:{user_id}")
    previous, *_ = pipe.execute()
    return previous


def disconnect(*, organization_id: int, user_id: int, connection: str) -> bool:
    """Forget a closed connection; ``True`` when it was the user's last one (they are now offline)."""
    pipe = client().pipeline()
    pipe.zrem(_connections_key(organization_id, user_id), connection)
    pipe.zremrangebyscore(_connections_key(organization_id, user_id), "-inf", time.time() - PRESENCE_TTL)
    pipe.zcard(_connections_key(organization_id, user_id))
    *_, remaining = pipe.execute()
    if remaining:
        return False
    client().delete(presence_key(organization_id, user_id))
    return True


def current(*, organization_id: int, user_id: int) -> str | None:
    return client().get(presence_key(organization_id, user_id))


def expired() -> list[tuple[int, int]]:
    """(organization id, user id) of tracked users whose presence key has expired; untracks them."""
    gone = []
    for member in client().smembers(_key(TRACKED_KEY)):
        organization_id, user_id = (int(part) for part in member.split(":"))
        if not client().exists(presence_key(organization_id, user_id)):
            client().srem(_key(TRACKED_KEY), member)
            gone.append((organization_id, user_id))
    return gone


def _read_key(organization_id: int, conversation_id: int) -> str:
    return _key("read", f"org-{organization_id}", f"conversation-{conversation_id}")


def mark_read(*, organization_id: int, conversation_id: int, user_id: int, message_id: int) -> bool:
    """Move the user's read marker forward (never back); ``True`` when it moved."""
    key = _read_key(organization_id, conversation_id)
    moved = client().zadd(key, {str(user_id): message_id}, gt=True, ch=True)
    client().expire(key, READ_TTL)
    return bool(moved)


def read_markers(*, organization_id: int, conversation_id: int) -> dict[int, int]:
    """user id → last message id read, for a conversation."""
    return {
        int(user): int(score)
        for user, score in client().zrange(_read_key(organization_id, conversation_id), 0, -1, withscores=True)
    }
