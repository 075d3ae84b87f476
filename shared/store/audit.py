"""The audit trail (`tg_audit`): who did what, when. Never a password."""

from __future__ import annotations

import logging
from typing import Any

from shared import clock
from shared.store import documents
from shared.store.db import Collections, get_db
from shared.store.documents import Writes
from shared.store.errors import StoreError

log = logging.getLogger(__name__)


def record(
    event: str,
    *,
    telegram_user_id: int | None = None,
    crm_user_id: str | None = None,
    writes: Writes | None = None,
    **details: Any,
) -> None:
    """Append an audit entry, at once or as part of `writes`; a failure to write it at once is logged, never
    raised to the user."""
    entry = {
        "event": event,
        "at": clock.now(),
        "telegram_user_id": telegram_user_id,
        "crm_user_id": crm_user_id,
        "details": details,
    }
    doc = get_db().collection(Collections.AUDIT).document()
    if writes is not None:
        documents.create(doc, entry, writes=writes)
        return
    try:
        documents.create(doc, entry)
    except StoreError:
        log.exception("could not write audit entry %s", event)
