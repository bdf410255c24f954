"""The inbox's realtime log: one bounded Redis stream per organization, every entry numbered.

Publishing (``publish``, after the commit, from ``listeners``) runs one Lua script: ``INCR`` the
organization's sequence and ``XADD`` the event with that sequence as its stream id (``<seq>-0``),
trimmed to about ``STREAM_MAXLEN`` entries. Both happen atomically, so the stream's order is
the sequence's order and a sequence missing from the stream has been trimmed away.

Each entry is the JSON of what a tab needs to show the event without asking the server: the
rendered message (``html``, per language) and list item (``item``, per language), plus its
audience (``queues``: queue ids, ``users``: user ids of the people it concerns). Readers
(``conversations.inbox.hub`` in each Daphne process, the polling endpoint) decide per tab with
``may_see`` and send the tab's language's rendering.

A tab remembers the last sequence it received; ``replay_plan`` turns a reconnecting tab's
``since`` into the missed entries, or ``None`` when the stream no longer holds them all (the
tab then reloads its partials: a ``resync``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import redis
from django.conf import settings

from accounts.roles import Role

STREAM_MAXLEN = 10_000
REPLAY_MAX = 1_000

# KEYS: sequence, stream. ARGV: entry JSON, maxlen. Returns the new sequence.
PUBLISH_SCRIPT = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'd', ARGV[1])
return seq
"""

_client: redis.Redis | None = None
_script = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return _client


def sequence_key(organization_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:inbox:org-{organization_id}:seq"


def stream_key(organization_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:inbox:org-{organization_id}:stream"


def resyncs_key() -> str:
    """How many times a tab was told to reload because what it missed was gone (overload, long absence)."""
    return f"{settings.REDIS_KEY_PREFIX}:inbox:resyncs"


def organization_from_stream_key(key: str) -> int:
    return int(key.rsplit(":", 2)[-2].removeprefix("org-"))


def publish(organization_id: int, entry: dict) -> int:
    """Append one event to the organization's stream; returns its sequence."""
    global _script
    if _script is None:
        _script = client().register_script(PUBLISH_SCRIPT)
    data = json.dumps(entry, separators=(",", ":"))
    return int(_script(keys=[sequence_key(organization_id), stream_key(organization_id)], args=[data, STREAM_MAXLEN]))


def current_sequence(organization_id: int) -> int:
    """The organization's last sequence (0 before its first event); a page embeds it for its tab."""
    return int(client().get(sequence_key(organization_id)) or 0)


@dataclass(frozen=True)
class Viewer:
    """Who a tab belongs to, as far as the fan-out needs: role, user, the queues they work."""

    user_id: int
    role: str | None
    queue_ids: frozenset[int] = field(default_factory=frozenset)
    superuser: bool = False


def may_see(viewer: Viewer, queues: list, users: list) -> bool:
    """Org admins, viewers (read-only) and super admins see every event of the organization;
    agents those of their queues' conversations, their own, and those in no queue (anyone may take them)."""
    if viewer.superuser or viewer.role in (Role.ORG_ADMIN, Role.VIEWER):
        return True
    if viewer.role != Role.AGENT:
        return False
    if viewer.user_id in users:
        return True
    if not queues:
        return not users
    return any(queue in viewer.queue_ids for queue in queues)


@dataclass
class Entry:
    """A stream entry parsed once per reader, its frame text rendered once per language."""

    seq: int
    data: dict
    _texts: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, entry_id: str, fields: dict) -> Entry:
        return cls(seq=int(entry_id.split("-", 1)[0]), data=json.loads(fields["d"]))

    @property
    def conversation_id(self):
        return self.data.get("conversation_id")

    def visible_to(self, viewer: Viewer) -> bool:
        return may_see(viewer, self.data.get("queues") or [], self.data.get("users") or [])

    def frame(self, language: str, *, with_item: bool = True) -> dict:
        data = self.data
        frame = {
            "type": "event",
            "seq": self.seq,
            "event": data["event"],
            **{
                key: data[key]
                for key in ("conversation_id", "message_id", "author_id", "agent_id", "by_id", "note", "contact_id")
                if key in data
            },
        }
        html = data.get("html") or {}
        if html:
            frame["html"] = html.get(language) or next(iter(html.values()))
        item = data.get("item") or {}
        if with_item and item:
            frame["item"] = item.get(language) or next(iter(item.values()))
        return frame

    def text(self, language: str, *, with_item: bool = True) -> str:
        key = (language, with_item)
        if key not in self._texts:
            self._texts[key] = json.dumps(self.frame(language, with_item=with_item), separators=(",", ":"))
        return self._texts[key]


def superseded_items(entries: list[Entry]) -> set[int]:
    """Sequences whose list item a later entry of the same batch replaces (coalesced list updates)."""
    latest: dict = {}
    for entry in entries:
        if entry.data.get("item") and entry.conversation_id:
            latest[entry.conversation_id] = entry.seq
    return {
        entry.seq
        for entry in entries
        if entry.data.get("item") and entry.conversation_id and latest[entry.conversation_id] != entry.seq
    }


def batch_text(texts: list[str]) -> str:
    """One websocket frame for what a tab gets at once: one ``event`` or an ``events`` list."""
    if len(texts) == 1:
        return texts[0]
    return '{"type":"events","events":[' + ",".join(texts) + "]}"


def resync_text(seq: int) -> str:
    return json.dumps({"type": "resync", "seq": seq}, separators=(",", ":"))


def replay_plan(since: int, current: int, entries: list[tuple[str, dict]]) -> list[Entry] | None:
    """The entries after ``since`` (up to ``current``), or ``None`` when some are gone from the stream.

    ``entries`` is ``XRANGE stream (since+1)-0 + COUNT REPLAY_MAX``. A ``since`` ahead of the
    sequence (Redis was reset) or a gap longer than ``REPLAY_MAX`` also answers ``None``.
    """
    if since == current:
        return []
    if since > current or current - since > REPLAY_MAX:
        return None
    parsed = [Entry.parse(entry_id, fields) for entry_id, fields in entries]
    if not parsed or parsed[0].seq != since + 1:
        return None
    return [entry for entry in parsed if entry.seq <= current]


def replay_sync(organization_id: int, since: int) -> tuple[list[Entry] | None, int]:
    """``replay_plan`` read with the blocking client (the polling endpoint)."""
    pipe = client().pipeline(transaction=True)
    pipe.get(sequence_key(organization_id))
    pipe.xrange(stream_key(organization_id), min=f"{since + 1}-0", max="+", count=REPLAY_MAX)
    current, entries = pipe.execute()
    current = int(current or 0)
    return replay_plan(since, current, entries), current
