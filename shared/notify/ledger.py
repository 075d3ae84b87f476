"""The delivery ledger: one entry per CRM event, created when notify first sees it (its storage is
shared.store.ledger)."""

from __future__ import annotations

import datetime as dt

from shared import clock
from shared.notify.events import Event
from shared.store.ledger import (
    LEASE,
    STORED_STATUSES,
    Claim,
    DeliveryStatus,
    LedgerEntry,
    claim_entry,
    counts_by_status,
    entries_with_status,
    entry_id,
    finish,
    get_entry,
    iter_entries_with_status,
    repeat_of,
    take_for_redrive,
)

__all__ = [
    "LEASE",
    "STORED_STATUSES",
    "Claim",
    "DeliveryStatus",
    "LedgerEntry",
    "claim",
    "counts_by_status",
    "entries_with_status",
    "entry_id",
    "finish",
    "get_entry",
    "iter_entries_with_status",
    "repeat_of",
    "take_for_redrive",
]


def claim(event: Event, lease: dt.timedelta = LEASE) -> Claim:
    """Create the event's entry as `pending`, leased to the caller; if it exists, count the repeat."""
    now = clock.now()
    entry = LedgerEntry(
        event_id=event.id,
        event_type=event.type,
        group=event.group,
        event=event.model_dump(mode="json"),
        recipient=event.recipient,
        status=DeliveryStatus.PENDING,
        occurred_at=event.occurred_at,
        received_at=now,
        updated_at=now,
        lease_until=now + lease,
    )
    return claim_entry(entry)
