"""Changing CRM records: creation with the organisation's next sequence number, checked updates, deletion.

The store's adapter (shared.store.crm) makes each change in one transaction; here its plain data becomes records
again, and the checks that may refuse a change see the record as it is inside that transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from shared.crm.records.models import CrmRecord
from shared.crm.records.queries import parse_record
from shared.store.crm import records as stored
from shared.store.crm.records import Row

R = TypeVar("R", bound=CrmRecord)


class RecordGone(LookupError):
    """The record was deleted between being found and being changed."""


def create_record(model: type[R], org_id: str, fields: Mapping[str, Any], doc_id: str | None = None) -> R:
    """Create a record of `org_id` with the next sequence number; returns it as stored (None fields are left out).

    With `doc_id`, the record is that document, created once: when it exists already (this create ran before and
    its answer was lost), it is returned as it is and nothing is written.
    """
    given = {key: value for key, value in fields.items() if value is not None}
    return model.model_validate(stored.create_numbered(model.collection, org_id, given, doc_id))


def update_record(
    model: type[R], doc_id: str, check: Callable[[R], None], changes: Mapping[str, Any], cleared: Sequence[str] = ()
) -> R:
    """Apply `changes` and clear the `cleared` fields (plus updated_at) in a transaction, after `check` passed on
    the current record.

    `check` raises to refuse; it sees the record as it is inside the transaction, so a reassignment
    that happens meanwhile cannot slip through.
    """
    written = stored.update_checked(model.collection, doc_id, _checking(model, doc_id, check), changes, cleared)
    return model.model_validate(written)


def delete_record(model: type[R], doc_id: str, check: Callable[[R], None]) -> R:
    """Delete a record after `check` passed on it (in a transaction); returns what was deleted."""
    return model.model_validate(stored.delete_checked(model.collection, doc_id, _checking(model, doc_id, check)))


def _checking(model: type[R], doc_id: str, check: Callable[[R], None]) -> Callable[[Row | None], Row]:
    """The adapter's check: the document read as a record (RecordGone when it is not one any more), then `check`."""

    def checked(row: Row | None) -> Row:
        record = parse_record(model, row)
        if row is None or record is None:
            raise RecordGone(doc_id)
        check(record)
        return row

    return checked
