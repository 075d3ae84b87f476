"""'The next message is a support issue' after /support: a deadline on the user's link document, so that
checking for it costs no extra read on every message.
"""

from __future__ import annotations

import datetime as dt

from shared import clock
from shared.store import support_drafts
from shared.store.links import Link

DRAFT_LIFETIME = dt.timedelta(minutes=10)


def start_draft(telegram_user_id: int) -> None:
    """Remember that this user's next message describes a problem (replacing an earlier draft)."""
    support_drafts.set_deadline(telegram_user_id, clock.now() + DRAFT_LIFETIME)


def draft_waiting(link: Link) -> bool:
    """True when the link's /support is still waiting for the problem's description."""
    return _live(link.support_draft_until)


def take_draft(telegram_user_id: int) -> bool:
    """Consume the user's live draft, atomically, so that one message opens one ticket."""
    return _live(support_drafts.take_deadline(telegram_user_id))


def discard_draft(link: Link) -> None:
    """Forget the user's draft, if there is one (when they run another command)."""
    if link.support_draft_until is not None:
        support_drafts.set_deadline(link.telegram_user_id, None)


def _live(until: dt.datetime | None) -> bool:
    return until is not None and clock.now() < until
