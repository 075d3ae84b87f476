"""The audit trail (`tg_audit`): who did what, when. Never a password."""

from __future__ import annotations

import logging
from typing import Any

from google.api_core.exceptions import GoogleAPIError
from google.cloud.firestore import Transaction, WriteBatch

from shared import clock
from shared.store.db import RETRY, TIMEOUT_SECONDS, Collections, get_db

log = logging.getLogger(__name__)


def record(
    event: str,
    *,
    telegram_user_id: int | None = None,
    crm_user_id: str | None = None,
    transaction: Transaction | None = None,
    batch: WriteBatch | None = None,
    **details: Any,
) -> None:
    """Append an audit entry; a failure to write it is logged, never raised to the user."""
    entry = {
        "event": event,
        "at": clock.now(),
        "telegram_user_id": telegram_user_id,
        "crm_user_id": crm_user_id,
        "details": details,
    }
    doc = get_db().collection(Collections.AUDIT).document()
    if transaction is not None or batch is not None:
        (transaction or batch).create(doc, entry)  # type: ignore[union-attr]
        return
    try:
        doc.create(entry, retry=RETRY, timeout=TIMEOUT_SECONDS)
    except GoogleAPIError:
        log.exception("could not write audit entry %s", event)
