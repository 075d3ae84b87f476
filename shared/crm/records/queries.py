"""Reading CRM records: bounded, organisation-scoped pages (newest first, with a cursor), lookups, counts.

Every list query filters on `org_id` and is capped; nothing here ever reads a whole collection. Firestore
cannot search inside text, so a text filter scans at most TEXT_SCAN_LIMIT records of the filtered query
and matches in Python.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import ValidationError

from shared.crm.records.models import CrmRecord
from shared.store.db import RETRY, TIMEOUT_SECONDS, get_db, is_document_id

log = logging.getLogger(__name__)

R = TypeVar("R", bound=CrmRecord)

MAX_PAGE_SIZE = 50
TEXT_SCAN_LIMIT = 300
TEXT_SCAN_BATCH = 50
MAX_DISJUNCTIONS = 30  # Firestore: at most 30 values across the 'in' filters of one query
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST_MICROS = (dt.datetime(9999, 12, 31, tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
"""The last instant a Firestore timestamp (and a datetime) can hold, as a cursor's microseconds."""


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


def parse_record(model: type[R], snapshot: Any) -> R | None:
    """The record in a snapshot, or None (logged) when the CRM wrote something this model cannot read."""
    data = snapshot.to_dict() if snapshot.exists else None
    if data is None:
        return None
    try:
        return model.model_validate({**data, "id": snapshot.id})
    except ValidationError as error:
        log.warning("skipping %s/%s: %s", model.collection, snapshot.id, error.errors()[0]["msg"])
        return None


def get_record(model: type[R], doc_id: str, transaction: firestore.Transaction | None = None) -> R | None:
    """The record with this document id, whatever its organisation (callers check it), or None."""
    if not is_document_id(doc_id):
        return None
    snapshot = (
        get_db()
        .collection(model.collection)
        .document(doc_id)
        .get(transaction=transaction, retry=RETRY, timeout=TIMEOUT_SECONDS)
    )
    return parse_record(model, snapshot)


def get_records(model: type[R], ids: Iterable[str]) -> dict[str, R]:
    """Records by id, in one round trip; missing and unreadable ones are left out."""
    collection = get_db().collection(model.collection)
    refs = [collection.document(doc_id) for doc_id in dict.fromkeys(ids) if is_document_id(doc_id)]
    if not refs:
        return {}
    found: dict[str, R] = {}
    for snapshot in get_db().get_all(refs, retry=RETRY, timeout=TIMEOUT_SECONDS):
        record = parse_record(model, snapshot)
        if record is not None:
            found[record.id] = record
    return found


def find_by_number(model: type[R], org_id: str, number: int) -> R | None:
    """The record of this organisation with this sequence number ('deal 5'), or None."""
    query = (
        get_db()
        .collection(model.collection)
        .where(filter=FieldFilter("org_id", "==", org_id))
        .where(filter=FieldFilter("number", "==", number))
        .limit(1)
    )
    for snapshot in query.get(retry=RETRY, timeout=TIMEOUT_SECONDS):
        return parse_record(model, snapshot)
    return None


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
    if not dot or not is_document_id(doc_id) or not 0 <= micros <= _LATEST_MICROS:
        raise InvalidCursor(cursor)
    return _EPOCH + dt.timedelta(microseconds=micros), doc_id


def list_records(model: type[R], where: Where, page_size: int, cursor: str | None = None) -> Page[R]:
    """One page of records matching `where`, newest first, at most `page_size` (≤ MAX_PAGE_SIZE) long."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    start = decode_cursor(cursor) if cursor else None
    queries = _queries(model, where)
    if not queries:
        return Page([], None)
    batch = TEXT_SCAN_BATCH if where.text else page_size + 1
    streams = [_ordered(query, start, batch) for query in queries]
    merged: Iterator[Any] = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_position, reverse=True)
    items: list[R] = []
    for scanned, snapshot in enumerate(merged, start=1):
        record = parse_record(model, snapshot)
        if record is not None and (not where.text or record.matches(where.text)):
            if len(items) == page_size:
                return Page(items, encode_cursor(items[-1].created_at, items[-1].id))
            items.append(record)
        if where.text and scanned >= TEXT_SCAN_LIMIT:
            return Page(items, encode_cursor(*_position(snapshot)), scan_complete=False)
    return Page(items, None)


def count_records(model: type[R], where: Where) -> int:
    """How many records match `where` (an aggregation query: no document is read)."""
    total = 0
    for query in _queries(model, where):
        for result in _newest_first(query, where).count(alias="n").get(retry=RETRY, timeout=TIMEOUT_SECONDS):
            total += int(result[0].value)
    return total


def select_fields(model: type[R], where: Where, fields: Sequence[str], limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Only `fields` of at most `limit` matching records, and whether that was all of them (for sums)."""
    rows: list[dict[str, Any]] = []
    for query in _queries(model, where):
        selected = _newest_first(query, where).select(list(fields)).limit(limit + 1 - len(rows))
        for snapshot in selected.get(retry=RETRY, timeout=TIMEOUT_SECONDS):
            rows.append(snapshot.to_dict() or {})
        if len(rows) > limit:
            return rows[:limit], False
    return rows, True


def _queries(model: type[CrmRecord], where: Where) -> list[Any]:
    """The Firestore queries for `where`: one, or several when 'one of' lists exceed MAX_DISJUNCTIONS."""
    query: Any = get_db().collection(model.collection).where(filter=FieldFilter("org_id", "==", where.org_id))
    for name, value in where.equals.items():
        query = query.where(filter=FieldFilter(name, "==", value))
    if where.since is not None:
        query = query.where(filter=FieldFilter(where.range_field, ">=", where.since))
    if where.before is not None:
        query = query.where(filter=FieldFilter(where.range_field, "<", where.before))
    lists = {name: list(dict.fromkeys(values)) for name, values in where.one_of.items()}
    if any(not values for values in lists.values()):
        return []
    if not lists:
        return [query]
    longest = max(lists, key=lambda name: len(lists[name]))
    others = math.prod(len(values) for name, values in lists.items() if name != longest)
    size = max(1, MAX_DISJUNCTIONS // others)
    queries = []
    for offset in range(0, len(lists[longest]), size):
        chunked = {**lists, longest: lists[longest][offset : offset + size]}
        part = query
        for name, values in chunked.items():
            part = part.where(
                filter=FieldFilter(name, "in", values) if len(values) > 1 else FieldFilter(name, "==", values[0])
            )
        queries.append(part)
    return queries


def _newest_first(query: Any, where: Where) -> Any:
    """A time-range query ordered newest first, so it uses the same (…, field DESC) indexes as the lists."""
    if where.since is None and where.before is None:
        return query
    return query.order_by(where.range_field, direction=firestore.Query.DESCENDING)


def _ordered(query: Any, start: tuple[dt.datetime, str] | None, batch: int) -> Iterator[Any]:
    """The query's documents newest first, fetched `batch` at a time after `start`."""
    query = query.order_by("created_at", direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    position = start
    while True:
        page = query.limit(batch)
        if position is not None:
            page = page.start_after({"created_at": position[0], "__name__": position[1]})
        snapshots = list(page.get(retry=RETRY, timeout=TIMEOUT_SECONDS))
        for snapshot in snapshots:
            if isinstance(snapshot.get("created_at"), dt.datetime):
                yield snapshot
            else:
                log.warning("skipping %s: created_at is not a timestamp", snapshot.reference.path)
        if len(snapshots) < batch:
            return
        last = snapshots[-1]
        position = (last.get("created_at"), last.id)


def _position(snapshot: Any) -> tuple[dt.datetime, str]:
    return snapshot.get("created_at"), snapshot.id


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if number == 0:
            return text
