"""Changing CRM records: creation with a per-organisation sequence number, checked updates, deletion.

Numbers ("deal 5", "order #3") come from one counter document per (organisation, collection) in
`crm_sequences`, incremented in the same transaction that creates the record. A missing counter starts
after the highest number the organisation's records already carry, so records the CRM numbered itself
keep their numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared import clock
from shared.crm.records.models import CrmRecord
from shared.crm.records.queries import parse_record
from shared.store.db import RETRY, TIMEOUT_SECONDS, get_db, new_transaction

R = TypeVar("R", bound=CrmRecord)

SEQUENCES = "crm_sequences"
# Creations in one collection of one organisation contend for its counter; retry rather than fail.
SEQUENCE_ATTEMPTS = 20


class RecordGone(LookupError):
    """The record was deleted between being found and being changed."""


def sequence_ref(org_id: str, collection: str) -> Any:
    """The counter document of one organisation's collection: `crm_sequences/<org_id>:<collection>`."""
    return get_db().collection(SEQUENCES).document(f"{org_id}:{collection}")


def create_record(model: type[R], org_id: str, fields: Mapping[str, Any], doc_id: str | None = None) -> R:
    """Create a record of `org_id` with the next sequence number; returns it as stored.

    With `doc_id`, the record is that document, created once: when it exists already (this create ran before and
    its answer was lost), it is returned as it is and nothing is written.
    """
    db = get_db()
    doc = db.collection(model.collection).document(doc_id)
    counter = sequence_ref(org_id, model.collection)

    @firestore.transactional
    def create(transaction: firestore.Transaction) -> dict[str, Any]:
        if doc_id is not None:
            existing = doc.get(transaction=transaction, retry=RETRY, timeout=TIMEOUT_SECONDS)
            if existing.exists:
                return existing.to_dict() or {}
        snapshot = counter.get(transaction=transaction, retry=RETRY, timeout=TIMEOUT_SECONDS)
        exists = snapshot.exists
        last = int(snapshot.get("last_number") or 0) if exists else _highest_number(model, org_id, transaction)
        now = clock.now()
        given = {key: value for key, value in fields.items() if value is not None}
        data = {**given, "org_id": org_id, "number": last + 1, "created_at": now, "updated_at": now}
        transaction.set(
            counter, {"org_id": org_id, "collection": model.collection, "last_number": last + 1, "updated_at": now}
        )
        transaction.create(doc, data)
        return data

    data = create(new_transaction(SEQUENCE_ATTEMPTS))
    return model.model_validate({**data, "id": doc.id})


def update_record(
    model: type[R], doc_id: str, check: Callable[[R], None], changes: Mapping[str, Any], cleared: Sequence[str] = ()
) -> R:
    """Apply `changes` and clear the `cleared` fields (plus updated_at) in a transaction, after `check` passed on
    the current record.

    `check` raises to refuse; it sees the record as it is inside the transaction, so a reassignment
    that happens meanwhile cannot slip through.
    """
    db = get_db()
    ref = db.collection(model.collection).document(doc_id)

    @firestore.transactional
    def update(transaction: firestore.Transaction) -> R:
        record = parse_record(model, ref.get(transaction=transaction, retry=RETRY, timeout=TIMEOUT_SECONDS))
        if record is None:
            raise RecordGone(doc_id)
        check(record)
        stamped = {**changes, **dict.fromkeys(cleared, firestore.DELETE_FIELD), "updated_at": clock.now()}
        transaction.update(ref, dict(stamped))
        values = {key: value for key, value in stamped.items() if value is not firestore.DELETE_FIELD}
        removed = {key: None for key, value in stamped.items() if value is firestore.DELETE_FIELD}
        return model.model_validate({**record.model_dump(), **values, **removed})

    updated: R = update(new_transaction())
    return updated


def delete_record(model: type[R], doc_id: str, check: Callable[[R], None]) -> R:
    """Delete a record after `check` passed on it (in a transaction); returns what was deleted."""
    db = get_db()
    ref = db.collection(model.collection).document(doc_id)

    @firestore.transactional
    def delete(transaction: firestore.Transaction) -> R:
        record = parse_record(model, ref.get(transaction=transaction, retry=RETRY, timeout=TIMEOUT_SECONDS))
        if record is None:
            raise RecordGone(doc_id)
        check(record)
        transaction.delete(ref)
        return record

    deleted: R = delete(new_transaction())
    return deleted


def _highest_number(model: type[CrmRecord], org_id: str, transaction: firestore.Transaction) -> int:
    query = (
        get_db()
        .collection(model.collection)
        .where(filter=FieldFilter("org_id", "==", org_id))
        .order_by("number", direction=firestore.Query.DESCENDING)
        .limit(1)
    )
    for snapshot in transaction.get(query, retry=RETRY, timeout=TIMEOUT_SECONDS):
        number = snapshot.get("number")
        return number if isinstance(number, int) else 0
    return 0
