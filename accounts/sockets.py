"""What every websocket consumer shares about the person on the other end."""

from __future__ import annotations

from channels.db import database_sync_to_async

from accounts import selectors

CLOSE_NOT_A_MEMBER = 4403


async def still_member_or_close(consumer, *, user_id: int, organization_id: int) -> bool:
    """Re-check the membership before pushing to ``consumer``; close it (4403) when it is gone.

    The one check for pushes: the inbox and notifications consumers both call it for every
    notification they forward.
    """
    if await database_sync_to_async(selectors.membership_is_current)(user_id=user_id, organization_id=organization_id):
        return True
    await consumer.close(code=CLOSE_NOT_A_MEMBER)
    return False
