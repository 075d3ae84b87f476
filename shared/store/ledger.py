"""The delivery ledger's storage (`tg_notifications`): one create-if-absent document per CRM event.

The document id is the SHA-256 of the CRM's event id, so a repeated event finds the first one's
document and is answered `duplicate`. The document keeps the validated event, so a re-drive can send it
later, and a lease, so a request and a re-drive never send the same event at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel, ConfigDict, Field

from shared import clock
from shared.store import documents
from shared.store.db import Collections, get_db
from shared.store.documents import Transaction

LEASE = dt.timedelta(minutes=2)
"""How long a request owns the events it claimed: longer than any request's time budget plus one send."""


class DeliveryStatus(StrEnum):
    """What happened to an event. DUPLICATE is only ever an answer; the ledger keeps the first outcome."""

    PENDING = "pending"
    SENT = "sent"
    DUPLICATE = "duplicate"
    NOT_LINKED = "not_linked"
    MUTED = "muted"
    BLOCKED = "blocked"
    FAILED = "failed"


STORED_STATUSES = tuple(status for status in DeliveryStatus if status is not DeliveryStatus.DUPLICATE)


class LedgerEntry(BaseModel):
    """One event's delivery record."""

    model_config = ConfigDict(extra="ignore")

    event_id: str
    event_type: str
    group: str
    event: dict[str, Any]
    """The validated event as JSON, enough to send it again."""
    recipient: dict[str, str]
    status: DeliveryStatus
    reason: str | None = None
    crm_user_id: str | None = None
    telegram_user_id: int | None = None
    chat_id: int | None = None
    attempts: int = 0
    telegram_message_id: int | None = None
    last_error: str | None = None
    occurred_at: dt.datetime
    received_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None = None
    lease_until: dt.datetime | None = None
    duplicates: int = 0
    redrives: int = 0
    history: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Claim:
    """The result of claiming an event: `created` False means it was seen before, `entry` is the first."""

    created: bool
    entry: LedgerEntry | None


def entry_id(event_id: str) -> str:
    """The ledger document id of a CRM event id."""
    return hashlib.sha256(event_id.encode()).hexdigest()


def _ref(event_id: str) -> Any:
    return get_db().collection(Collections.NOTIFICATIONS).document(entry_id(event_id))


def claim_entry(entry: LedgerEntry) -> Claim:
    """Create a new event's entry (`pending`, leased to the caller); if the event has one, count the repeat."""
    doc = _ref(entry.event_id)
    first = documents.create_once(doc, entry.model_dump(mode="python"))
    if first is None:
        return Claim(True, entry)
    _count_repeat(doc, entry.received_at)
    return Claim(False, LedgerEntry.model_validate(first) if first else None)


def repeat_of(event_id: str) -> LedgerEntry | None:
    """The entry of an event id seen before, this repeat counted as claim() counts one; None for a new id, for which
    nothing is written."""
    doc = _ref(event_id)
    snapshot = documents.read(doc)
    if not snapshot.exists:
        return None
    _count_repeat(doc, clock.now())
    return LedgerEntry.model_validate(snapshot.to_dict())


def _count_repeat(doc: Any, now: dt.datetime) -> None:
    documents.update(doc, {"duplicates": documents.increment(1), "last_duplicate_at": now})


def get_entry(event_id: str) -> LedgerEntry | None:
    """The entry of a CRM event id, or None."""
    snapshot = documents.read(_ref(event_id))
    return LedgerEntry.model_validate(snapshot.to_dict()) if snapshot.exists else None


def finish(
    event_id: str,
    status: DeliveryStatus,
    *,
    reason: str | None = None,
    attempts: int = 0,
    telegram_message_id: int | None = None,
    last_error: str | None = None,
    crm_user_id: str | None = None,
    telegram_user_id: int | None = None,
    chat_id: int | None = None,
) -> None:
    """Record an outcome and release the lease (a `pending` outcome leaves the event to a re-drive)."""
    now = clock.now()
    fields: dict[str, Any] = {
        "status": status.value,
        "reason": reason,
        "updated_at": now,
        "lease_until": None,
        "attempts": documents.increment(attempts),
        "history": documents.array_union([{"at": now, "status": status.value, "attempts": attempts}]),
    }
    if last_error is not None or status is DeliveryStatus.SENT:
        fields["last_error"] = last_error
    if status is DeliveryStatus.SENT:
        fields["sent_at"] = now
        fields["telegram_message_id"] = telegram_message_id
    for name, value in (("crm_user_id", crm_user_id), ("telegram_user_id", telegram_user_id), ("chat_id", chat_id)):
        if value is not None:
            fields[name] = value
    documents.update(_ref(event_id), fields)


def take_for_redrive(
    entry: LedgerEntry, statuses: Iterable[DeliveryStatus], lease: dt.timedelta = LEASE
) -> LedgerEntry | None:
    """Lease an entry for a re-drive if it still has one of `statuses` and nobody else holds it."""
    wanted = {status.value for status in statuses}
    return documents.in_transaction(_take, entry.event_id, wanted, lease)


def _take(transaction: Transaction, event_id: str, wanted: set[str], lease: dt.timedelta) -> LedgerEntry | None:
    now = clock.now()
    doc = _ref(event_id)
    snapshot = documents.read(doc, transaction=transaction)
    if not snapshot.exists:
        return None
    current = LedgerEntry.model_validate(snapshot.to_dict())
    if current.status.value not in wanted or (current.lease_until is not None and current.lease_until > now):
        return None
    documents.update(doc, {"lease_until": now + lease, "redrives": documents.increment(1)}, writes=transaction)
    return current


def entries_with_status(
    statuses: Iterable[DeliveryStatus | str], limit: int = 100, since: dt.datetime | None = None
) -> list[LedgerEntry]:
    """Entries with any of `statuses`, oldest first (by when notify received them), at most `limit`.

    Needs the composite index (status, received_at) on tg_notifications.
    """
    query = _oldest_first_with_status(statuses, since).limit(limit)
    return [LedgerEntry.model_validate(s.to_dict()) for s in documents.run(query)]


def iter_entries_with_status(statuses: Iterable[DeliveryStatus | str], page_size: int = 100) -> Iterator[LedgerEntry]:
    """Every entry with any of `statuses`, oldest first, read a page of `page_size` at a time as the caller goes on.

    Needs the same index as entries_with_status.
    """
    query = _oldest_first_with_status(statuses).limit(page_size)
    last_read = None
    while True:
        page = documents.run(query if last_read is None else query.start_after(last_read))
        for snapshot in page:
            yield LedgerEntry.model_validate(snapshot.to_dict())
        if len(page) < page_size:
            return
        last_read = page[-1]  # a snapshot cursor: entries received at the same instant are neither lost nor repeated


def _oldest_first_with_status(statuses: Iterable[DeliveryStatus | str], since: dt.datetime | None = None) -> Any:
    values = sorted({DeliveryStatus(status).value for status in statuses})
    query = get_db().collection(Collections.NOTIFICATIONS).where(filter=FieldFilter("status", "in", values))
    if since is not None:
        query = query.where(filter=FieldFilter("received_at", ">=", since))
    return query.order_by("received_at")


def counts_by_status(since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict[str, int]:
    """How many events notify received in [since, until), by status (aggregation queries, no documents read).

    `duplicate` is how many repeats of those events came in. Needs the composite index
    (status, received_at) on tg_notifications when a period is given.
    """
    counts: dict[str, int] = {}
    for status in STORED_STATUSES:
        query = _received_between(since, until).where(filter=FieldFilter("status", "==", status.value))
        counts[status.value] = documents.count(query)
    repeats = documents.sum_of(_received_between(since, until).sum("duplicates"))
    counts[DeliveryStatus.DUPLICATE.value] = int(repeats)
    return counts


def _received_between(since: dt.datetime | None, until: dt.datetime | None) -> Any:
    query: Any = get_db().collection(Collections.NOTIFICATIONS)
    if since is not None:
        query = query.where(filter=FieldFilter("received_at", ">=", since))
    if until is not None:
        query = query.where(filter=FieldFilter("received_at", "<", until))
    return query
