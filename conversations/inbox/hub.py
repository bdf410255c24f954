"""One reader of the organizations' streams per process (per event loop), fanning out to its tabs.

Why not the channel layer: ``channels_redis``' core layer writes one copy of every group message
per member channel and drops what exceeds a channel's ``capacity`` or waits past ``expiry``
without telling anyone; its pub/sub layer forgets everything sent while a process is away. Here
a process reads each organization's stream once (``XREAD BLOCK`` over the organizations that have
tabs in it), so the cost in Redis is per process, not per tab; the sequence in each entry lets
a tab resume where it stopped, and a process that falls behind the stream's trimming knows it
(a gap in the sequence) and tells its tabs to resync instead of losing frames silently.

Entries read together go to a tab as one frame (``events``), so a burst costs one websocket
write per tab, and a conversation's list item is sent once per burst (the latest).

Presence, typing, read receipts and notifications stay on the channel layer: small, per user or
per conversation, and nothing to replay.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict

import redis.asyncio as aioredis
from django.conf import settings

from conversations.inbox import realtime

logger = logging.getLogger(__name__)

BLOCK_MS = 200
READ_COUNT = 500

_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

stats = {"resyncs": 0, "gaps": 0}


class Hub:
    def __init__(self):
        self.tabs: dict[int, set] = defaultdict(set)
        self.positions: dict[int, int] = {}
        self.redis = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        self.task: asyncio.Task | None = None

    async def join(self, tab) -> None:
        """Start delivering the tab's organization's entries to it (from the stream's head on)."""
        organization_id = tab.organization_id
        if organization_id not in self.positions:
            self.positions[organization_id] = int(await self.redis.get(realtime.sequence_key(organization_id)) or 0)
        self.tabs[organization_id].add(tab)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    def leave(self, tab) -> None:
        tabs = self.tabs.get(tab.organization_id)
        if tabs is None:
            return
        tabs.discard(tab)
        if not tabs:
            del self.tabs[tab.organization_id]
            self.positions.pop(tab.organization_id, None)

    async def run(self) -> None:
        while self.tabs:
            streams = {realtime.stream_key(org): f"{seq}-0" for org, seq in self.positions.items()}
            try:
                answer = await self.redis.xread(streams, count=READ_COUNT, block=BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading the inbox streams failed; retrying")
                await asyncio.sleep(1)
                continue
            for key, items in answer or []:
                organization_id = realtime.organization_from_stream_key(key)
                if organization_id not in self.positions or not items:
                    continue
                entries = [realtime.Entry.parse(entry_id, fields) for entry_id, fields in items]
                expected = self.positions[organization_id] + 1
                self.positions[organization_id] = entries[-1].seq
                if entries[0].seq != expected:
                    # Trimmed before this process read it: the tabs cannot be told what they missed.
                    stats["gaps"] += 1
                    logger.warning("inbox stream of org %s: gap %s..%s", organization_id, expected, entries[0].seq - 1)
                    await self._all(organization_id, "resync", entries[-1].seq)
                    continue
                await self._all(organization_id, "deliver", entries, realtime.superseded_items(entries))

    async def _all(self, organization_id: int, method: str, *args) -> None:
        for tab in list(self.tabs.get(organization_id, ())):
            try:
                await getattr(tab, method)(*args)
            except Exception:
                logger.exception("delivering to an inbox tab failed")
                self.leave(tab)


def get() -> Hub:
    """The hub of the running event loop (Daphne has one; each test's loop gets its own)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
