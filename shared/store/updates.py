"""Telegram update de-duplication: one create-if-absent document per update_id, expiring after a day."""

from __future__ import annotations

import datetime as dt

from shared import clock
from shared.store.db import Collections, get_db
from shared.store.documents import create_once

KEEP_FOR = dt.timedelta(days=1)


def claim_update(update_id: int, kind: str) -> bool:
    """Record that this update is being handled; False when it was seen before (within a day)."""
    now = clock.now()
    doc = get_db().collection(Collections.PROCESSED_UPDATES).document(str(update_id))
    return create_once(doc, {"kind": kind, "received_at": now, "expires_at": now + KEEP_FOR}) is None


def claim_group_notice(chat_id: int) -> bool:
    """True the first time a group or channel is seen, so the bot explains itself there only once."""
    doc = get_db().collection(Collections.GROUP_CHATS).document(str(chat_id))
    return create_once(doc, {"noticed_at": clock.now()}) is None
