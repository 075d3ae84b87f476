"""Status notifications: the CRM posts events, linked users get Telegram messages (docs/notify.md).

The admin function uses `redrive` and the ledger queries below. The chat side of notifications (/notifications
and its buttons) is `shared.bot.notification_settings`, so the webhook never loads the delivery stack.
"""

from shared.notify.delivery import DeliveryOptions, EventResult, RedriveReport, notify_events, redrive
from shared.notify.ledger import (
    DeliveryStatus,
    LedgerEntry,
    counts_by_status,
    entries_with_status,
    get_entry,
)

__all__ = [
    "DeliveryOptions",
    "DeliveryStatus",
    "EventResult",
    "LedgerEntry",
    "RedriveReport",
    "counts_by_status",
    "entries_with_status",
    "get_entry",
    "notify_events",
    "redrive",
]
