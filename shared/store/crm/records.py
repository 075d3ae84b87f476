"""CRM records in Firestore: organisation-scoped queries newest first, counts, and the writes the bot makes.

Every query filters on `org_id`. A selection's 'one of' lists go into `in` filters, split over several queries
when they hold more values than Firestore takes in one (MAX_DISJUNCTIONS), and the queries' documents are merged
back into one newest-first order.

Numbers ("deal 5", "order #3") come from one counter document per (organisation, collection) in
`crm_sequences`, incremented in the same transaction that creates the record. A missing counter starts after the
highest number the organisation's records already carry, so records the CRM numbered itself keep their numbers.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared import clock
from shared.store import documents
from shared.store.db import get_db, is_document_id, new_transaction
from shared.store.documents import DocumentSnapshot, Transaction

__all__ = [
    "SEQUENCES",
    "BatchWriter",
    "Row",
    "Selection",
    "count",
    "create_numbered",
    "delete_checked",
    "find_by_number",
    "is_document_id",
    "newest_first",
    "read",
    "read_many",
    "record_ids",
    "select",
    "sequence_ref",
    "update_checked",
]

log = logging.getLogger(__name__)

Row = dict[str, Any]
"""A document's fields, with its id under "id"."""
Result = TypeVar("Result")

MAX_DISJUNCTIONS = 30  # Firestore: at most 30 values across the 'in' filters of one query
SEQUENCES = "crm_sequences"
# Creations in one collection of one organisation contend for its counter; retry rather than fail.
SEQUENCE_ATTEMPTS = 20
BATCH_LIMIT = 450  # Firestore allows 500 writes per batch


class Selection(Protocol):
    """Which records a query selects (shared.crm.records.Where is one): always one organisation, then equality,
    'one of' and time-range filters (`since` ≤ `range_field` < `before`)."""

    @property
    def org_id(self) -> str: ...
    @property
    def equals(self) -> Mapping[str, Any]: ...
    @property
    def one_of(self) -> Mapping[str, Sequence[Any]]: ...
    @property
    def range_field(self) -> str: ...
    @property
    def since(self) -> dt.datetime | None: ...
    @property
    def before(self) -> dt.datetime | None: ...


def read(collection: str, doc_id: str) -> Row | None:
    """The document with this id, whatever its organisation (callers check it), or None."""
    if not is_document_id(doc_id):
        return None
    return _row(documents.read(get_db().collection(collection).document(doc_id)))


def read_many(collection: str, ids: Iterable[str]) -> list[Row]:
    """The documents with these ids that exist, in one round trip, in no particular order."""
    documents_of = get_db().collection(collection)
    refs = [documents_of.document(doc_id) for doc_id in dict.fromkeys(ids) if is_document_id(doc_id)]
    return [row for row in map(_row, documents.read_all(refs)) if row is not None]


def find_by_number(collection: str, org_id: str, number: int) -> Row | None:
    """The organisation's document with this sequence number ('deal 5'), or None."""
    query = (
        get_db()
        .collection(collection)
        .where(filter=FieldFilter("org_id", "==", org_id))
        .where(filter=FieldFilter("number", "==", number))
        .limit(1)
    )
    for snapshot in documents.run(query):
        return _row(snapshot)
    return None


def newest_first(
    collection: str, selection: Selection, after: tuple[dt.datetime, str] | None, batch: int
) -> Iterator[Row]:
    """The selected documents newest first (by created_at, then id), from just after `after` (created_at, id),
    read `batch` at a time as the caller goes on; documents whose created_at is not a timestamp are skipped."""
    streams = [_ordered(query, after, batch) for query in _queries(collection, selection)]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda row: (row["created_at"], row["id"]), reverse=True)


def count(collection: str, selection: Selection) -> int:
    """How many documents are selected (aggregation queries: no document is read)."""
    return sum(documents.count(_newest_first(query, selection)) for query in _queries(collection, selection))


def select(collection: str, selection: Selection, fields: Sequence[str], limit: int) -> tuple[list[Row], bool]:
    """Only `fields` of at most `limit` selected documents (no "id"), and whether that was all of them."""
    rows: list[Row] = []
    for query in _queries(collection, selection):
        selected = _newest_first(query, selection).select(list(fields)).limit(limit + 1 - len(rows))
        rows += [snapshot.to_dict() or {} for snapshot in documents.run(selected)]
        if len(rows) > limit:
            return rows[:limit], False
    return rows, True


def record_ids(collection: str, selection: Selection, limit: int) -> list[str]:
    """The ids of at most `limit` selected documents, reading none of their fields."""
    ids: list[str] = []
    for query in _queries(collection, selection):
        ids += [snapshot.id for snapshot in documents.run(query.select([]).limit(limit - len(ids)))]
        if len(ids) >= limit:
            break
    return ids


def sequence_ref(org_id: str, collection: str) -> Any:
    """The counter document of one organisation's collection: `crm_sequences/<org_id>:<collection>`."""
    return get_db().collection(SEQUENCES).document(_sequence_id(org_id, collection))


def create_numbered(collection: str, org_id: str, fields: Mapping[str, Any], doc_id: str | None = None) -> Row:
    """Create a document of `org_id` with the next sequence number, created_at and updated_at, and move the counter
    on, in one transaction; returns it as stored.

    With `doc_id`, the document is created once: when it exists already (this create ran before and its answer
    was lost), it is returned as it is and nothing is written.
    """
    doc = get_db().collection(collection).document(doc_id)
    counter = sequence_ref(org_id, collection)

    def create(transaction: Transaction) -> Row:
        if doc_id is not None:
            existing = documents.read(doc, transaction=transaction)
            if existing.exists:
                return existing.to_dict() or {}
        snapshot = documents.read(counter, transaction=transaction)
        last = (
            int(snapshot.get("last_number") or 0)
            if snapshot.exists
            else _highest_number(collection, org_id, transaction)
        )
        now = clock.now()
        data = {**fields, "org_id": org_id, "number": last + 1, "created_at": now, "updated_at": now}
        documents.write(counter, _counter(org_id, collection, last + 1, now), writes=transaction)
        transaction.create(doc, data)  # buffered until the commit, which fails if the document appeared meanwhile
        return data

    return {**_in_transaction(create, SEQUENCE_ATTEMPTS), "id": doc.id}


def update_checked(
    collection: str,
    doc_id: str,
    check: Callable[[Row | None], Row],
    changes: Mapping[str, Any],
    cleared: Sequence[str] = (),
) -> Row:
    """Set `changes`, remove the `cleared` fields and stamp updated_at, in a transaction, once `check` passed on the
    document as it is inside it; returns the document as written.

    `check` gets the document (None when there is none) and returns it to go ahead, or raises to refuse; seeing it
    inside the transaction, it cannot be fooled by a change made meanwhile.
    """
    ref = get_db().collection(collection).document(doc_id)

    def update(transaction: Transaction) -> Row:
        row = check(_row(documents.read(ref, transaction=transaction)))
        now = clock.now()
        written = {**changes, **dict.fromkeys(cleared, firestore.DELETE_FIELD), "updated_at": now}
        documents.update(ref, written, writes=transaction)
        return {**row, **changes, **dict.fromkeys(cleared), "updated_at": now}

    return documents.in_transaction(update)


def delete_checked(collection: str, doc_id: str, check: Callable[[Row | None], Row]) -> Row:
    """Delete a document in a transaction once `check` (as for update_checked) passed on it; returns what it held."""
    ref = get_db().collection(collection).document(doc_id)

    def delete(transaction: Transaction) -> Row:
        row = check(_row(documents.read(ref, transaction=transaction)))
        documents.delete(ref, writes=transaction)
        return row

    return documents.in_transaction(delete)


class BatchWriter:
    """Creates or replaces many documents, in batches of at most BATCH_LIMIT writes (for loading data)."""

    def __init__(self) -> None:
        self._batch = get_db().batch()
        self._pending = 0

    def set(self, collection: str, doc_id: str, fields: dict[str, Any]) -> None:
        self._batch.set(get_db().collection(collection).document(doc_id), fields)
        self._pending += 1
        if self._pending >= BATCH_LIMIT:
            self.commit()

    def set_sequence(self, org_id: str, collection: str, last_number: int, now: dt.datetime) -> None:
        """Set an organisation's counter of `collection` to `last_number`."""
        self.set(SEQUENCES, _sequence_id(org_id, collection), _counter(org_id, collection, last_number, now))

    def commit(self) -> None:
        if self._pending:
            documents.commit(self._batch)
        self._batch = get_db().batch()
        self._pending = 0


def _row(snapshot: DocumentSnapshot) -> Row | None:
    data = snapshot.to_dict() if snapshot.exists else None
    return None if data is None else {**data, "id": snapshot.id}


def _sequence_id(org_id: str, collection: str) -> str:
    return f"{org_id}:{collection}"


def _counter(org_id: str, collection: str, last_number: int, now: dt.datetime) -> dict[str, Any]:
    return {"org_id": org_id, "collection": collection, "last_number": last_number, "updated_at": now}


def _in_transaction(work: Callable[[Transaction], Result], attempts: int) -> Result:
    """documents.in_transaction with more attempts than its TRANSACTION_ATTEMPTS (creations contend for counters)."""
    with documents.store_errors():
        result: Result = firestore.transactional(work)(new_transaction(attempts))
        return result


def _highest_number(collection: str, org_id: str, transaction: Transaction) -> int:
    query = (
        get_db()
        .collection(collection)
        .where(filter=FieldFilter("org_id", "==", org_id))
        .order_by("number", direction=firestore.Query.DESCENDING)
        .limit(1)
    )
    for snapshot in documents.run(query, transaction=transaction):
        number = snapshot.get("number")
        return number if isinstance(number, int) else 0
    return 0


def _queries(collection: str, selection: Selection) -> list[Any]:
    """The Firestore queries for `selection`: one, or several when 'one of' lists exceed MAX_DISJUNCTIONS (none
    when a 'one of' list is empty: nothing can match)."""
    query: Any = get_db().collection(collection).where(filter=FieldFilter("org_id", "==", selection.org_id))
    for name, value in selection.equals.items():
        query = query.where(filter=FieldFilter(name, "==", value))
    if selection.since is not None:
        query = query.where(filter=FieldFilter(selection.range_field, ">=", selection.since))
    if selection.before is not None:
        query = query.where(filter=FieldFilter(selection.range_field, "<", selection.before))
    lists = {name: list(dict.fromkeys(values)) for name, values in selection.one_of.items()}
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


def _newest_first(query: Any, selection: Selection) -> Any:
    """A time-range query ordered newest first, so it uses the same (…, field DESC) indexes as the lists."""
    if selection.since is None and selection.before is None:
        return query
    return query.order_by(selection.range_field, direction=firestore.Query.DESCENDING)


def _ordered(query: Any, after: tuple[dt.datetime, str] | None, batch: int) -> Iterator[Row]:
    """The query's documents newest first, read `batch` at a time after `after`."""
    query = query.order_by("created_at", direction=firestore.Query.DESCENDING).order_by(
        "__name__", direction=firestore.Query.DESCENDING
    )
    position = after
    while True:
        page = query.limit(batch)
        if position is not None:
            page = page.start_after({"created_at": position[0], "__name__": position[1]})
        snapshots = documents.run(page)
        for snapshot in snapshots:
            if isinstance(snapshot.get("created_at"), dt.datetime):
                yield {**(snapshot.to_dict() or {}), "id": snapshot.id}
            else:
                log.warning("skipping %s: created_at is not a timestamp", snapshot.reference.path)
        if len(snapshots) < batch:
            return
        last = snapshots[-1]
        position = (last.get("created_at"), last.id)
