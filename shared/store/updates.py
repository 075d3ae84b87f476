"""Telegram update de-duplication: one create-if-absent document per update_id, expiring after a day."""

from __future__ import annotations

import datetime as dt

from shared import clock
from shared.store import counters
from shared.store.db import Collections, get_db
from shared.store.documents import create_if_absent

KEEP_FOR = dt.timedelta(days=1)


def claim_update(update_id: int, kind: str, counts: dict[str, int] | None = None) -> bool:
    """Record that this update is being handled, and add `counts` to today's counters in the same commit; False
    (and nothing counted) when it was seen before (within a day)."""
    now = clock.now()
    doc = get_db().collection(Collections.PROCESSED_UPDATES).document(str(update_id))
    data = {"kind": kind, "received_at": now, "expires_at": now + KEEP_FOR}
    alongside = (lambda batch: counters.add_counts(counts, batch)) if counts else None
    return create_if_absent(doc, data, alongside)


def claim_group_notice(chat_id: int) -> bool:
    """True the first time a group or channel is seen, so the bot explains itself there only once."""
    doc = get_db().collection(Collections.GROUP_CHATS).document(str(chat_id))
    return create_if_absent(doc, {"noticed_at": clock.now()})
