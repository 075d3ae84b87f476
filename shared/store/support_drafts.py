"""The deadline of a /support waiting for its description, kept on the user's link document (`tg_links`), so that
checking for it costs no read besides the link's own."""

from __future__ import annotations

import datetime as dt

from shared.store import documents, links
from shared.store.documents import Transaction

FIELD = "support_draft_until"


def set_deadline(telegram_user_id: int, until: dt.datetime | None) -> None:
    """Set the deadline of the user's draft (None: there is none)."""
    documents.update(links.link_ref(telegram_user_id), {FIELD: until})


def take_deadline(telegram_user_id: int) -> dt.datetime | None:
    """Clear the user's draft atomically, so that one message takes it once; returns its deadline (None: none)."""
    return documents.in_transaction(_take, telegram_user_id)


def _take(transaction: Transaction, telegram_user_id: int) -> dt.datetime | None:
    link = links.get_link(telegram_user_id, transaction)
    if link is None or link.support_draft_until is None:
        return None
    documents.update(links.link_ref(telegram_user_id), {FIELD: None}, writes=transaction)
    return link.support_draft_until
