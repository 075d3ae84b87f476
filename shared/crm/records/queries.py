"""Reading CRM records: bounded, organisation-scoped pages (newest first, with a cursor), lookups, counts.

Every list query filters on `org_id` and is capped; nothing here ever reads a whole collection. The documents come
from the store's adapter (shared.store.crm) as plain data and are validated here into the record models; one the
CRM wrote in a shape a model cannot read is skipped, with a warning. Firestore cannot search inside text, so a text
filter scans at most TEXT_SCAN_LIMIT records of the filtered query and matches in Python.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from shared.crm.records.models import CrmRecord
from shared.store.crm import records as stored
from shared.store.crm.records import Row

log = logging.getLogger(__name__)

R = TypeVar("R", bound=CrmRecord)

MAX_PAGE_SIZE = 50
TEXT_SCAN_LIMIT = 300
TEXT_SCAN_BATCH = 50
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST_MICROS = (dt.datetime(9999, 12, 31, tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
"""The last instant a Firestore timestamp (and a datetime) can hold, as a cursor's microseconds."""


CUSTOMER_ASSIGNED_TO = "customer_assigned_to"
"""An `equals` filter of orders, payments and files: those whose customer is assigned to this user."""


class InvalidCursor(ValueError):
    """A cursor that this module did not produce."""


@dataclass(frozen=True)
class Where:
    """What a query selects: always one organisation, then equality, 'one of' and time-range filters."""

    org_id: str
    equals: Mapping[str, Any] = field(default_factory=dict)
    one_of: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    range_field: str = "created_at"
    since: dt.datetime | None = None
    before: dt.datetime | None = None
    text: str | None = None


@dataclass(frozen=True)
class Page(Generic[R]):
    """One page of a list, newest first; `next_cursor` continues it with the same Where."""

    items: list[R]
    next_cursor: str | None
    # False when a text search stopped at TEXT_SCAN_LIMIT: the next page may still hold matches.
    scan_complete: bool = True


def parse_record(model: type[R], row: Row | None) -> R | None:
    """The record in a document's data, or None (logged) when the CRM wrote something this model cannot read."""
    if row is None:
        return None
    try:
        return model.model_validate(row)
    except ValidationError as error:
        log.warning("skipping %s/%s: %s", model.collection, row.get("id"), error.errors()[0]["msg"])
        return None


def get_record(model: type[R], doc_id: str) -> R | None:
    """The record with this document id, whatever its organisation (callers check it), or None."""
    return parse_record(model, stored.read(model.collection, doc_id))


def get_records(model: type[R], ids: Iterable[str]) -> dict[str, R]:
    """Records by id, in one round trip; missing and unreadable ones are left out."""
    records = (parse_record(model, row) for row in stored.read_many(model.collection, ids))
    return {record.id: record for record in records if record is not None}


def find_by_number(model: type[R], org_id: str, number: int) -> R | None:
    """The record of this organisation with this sequence number ('deal 5'), or None."""
    return parse_record(model, stored.find_by_number(model.collection, org_id, number))


def encode_cursor(created_at: dt.datetime | None, doc_id: str) -> str:
    """A cursor pointing just after this position in newest-first order: '<created_at µs in base 36>.<id>'."""
    micros = ((created_at or _EPOCH) - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{_base36(micros)}.{doc_id}"


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """(created_at, document id) of a cursor from encode_cursor."""
    stamp, dot, doc_id = cursor.partition(".")
    try:
        micros = int(stamp, 36)
    except ValueError:
        raise InvalidCursor(cursor) from None
    if not dot or not stored.is_document_id(doc_id) or not 0 <= micros <= _LATEST_MICROS:
        raise InvalidCursor(cursor)
    return _EPOCH + dt.timedelta(microseconds=micros), doc_id


def list_records(model: type[R], where: Where, page_size: int, cursor: str | None = None) -> Page[R]:
    """One page of records matching `where`, newest first, at most `page_size` (≤ MAX_PAGE_SIZE) long."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    start = decode_cursor(cursor) if cursor else None
    batch = TEXT_SCAN_BATCH if where.text else page_size + 1
    items: list[R] = []
    for scanned, row in enumerate(stored.newest_first(model.collection, where, start, batch), start=1):
        record = parse_record(model, row)
        if record is not None and (not where.text or record.matches(where.text)):
            if len(items) == page_size:
                return Page(items, encode_cursor(items[-1].created_at, items[-1].id))
            items.append(record)
        if where.text and scanned >= TEXT_SCAN_LIMIT:
            return Page(items, encode_cursor(row["created_at"], row["id"]), scan_complete=False)
    return Page(items, None)


def count_records(model: type[CrmRecord], where: Where) -> int:
    """How many records match `where` (an aggregation query: no document is read)."""
    return stored.count(model.collection, where)


def select_fields(
    model: type[CrmRecord], where: Where, fields: Sequence[str], limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Only `fields` of at most `limit` matching records, and whether that was all of them (for sums)."""
    return stored.select(model.collection, where, fields, limit)


def record_ids(model: type[CrmRecord], where: Where, limit: int) -> list[str]:
    """The ids of at most `limit` records matching `where`, none of their fields read."""
    return stored.record_ids(model.collection, where, limit)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if number == 0:
            return text
