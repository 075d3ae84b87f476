"""'The next message is a support issue' after /support: a deadline on the user's link document, so that
checking for it costs no extra read on every message.
"""

from __future__ import annotations

import datetime as dt

from google.cloud import firestore

from shared import clock
from shared.store import links
from shared.store.db import new_transaction
from shared.store.links import Link

DRAFT_LIFETIME = dt.timedelta(minutes=10)
FIELD = "support_draft_until"


def start_draft(telegram_user_id: int) -> None:
    """Remember that this user's next message describes a problem (replacing an earlier draft)."""
    links.update_link(telegram_user_id, {FIELD: clock.now() + DRAFT_LIFETIME})


def draft_waiting(link: Link) -> bool:
    """True when the link's /support is still waiting for the problem's description."""
    until = link.support_draft_until
    return until is not None and clock.now() < until


def take_draft(telegram_user_id: int) -> bool:
    """Consume the user's live draft, atomically, so that one message opens one ticket."""
    taken: bool = _take(new_transaction(), telegram_user_id)
    return taken


@firestore.transactional
def _take(transaction: firestore.Transaction, telegram_user_id: int) -> bool:
    link = links.get_link(telegram_user_id, transaction)
    if link is None or link.support_draft_until is None:
        return False
    transaction.update(links.link_ref(telegram_user_id), {FIELD: None})
    return draft_waiting(link)


def discard_draft(link: Link) -> None:
    """Forget the user's draft, if there is one (when they run another command)."""
    if link.support_draft_until is not None:
        links.update_link(link.telegram_user_id, {FIELD: None})
