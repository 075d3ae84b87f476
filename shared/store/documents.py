"""The one door to Firestore: every read, query and write of the bot goes through these functions, which give it
our deadline and retry policy and turn the library's exceptions into the store's own (shared.store.errors).

Calling the library directly would fall back to its own retries, which go on for a minute, past the webhook's
timeout; and callers would have to know its exception types.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from google.api_core.exceptions import AlreadyExists, Conflict, FailedPrecondition, GoogleAPIError
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot as _Snapshot

from shared.store.db import RETRY, TIMEOUT_SECONDS, TRANSACTION_ATTEMPTS, bounded_retry, get_db, new_transaction
from shared.store.errors import AlreadyStored, Contention, MissingIndex, StoreError

__all__ = [
    "DELETE_FIELD",
    "DocumentSnapshot",
    "Transaction",
    "WriteBatch",
    "array_union",
    "commit",
    "count",
    "create",
    "create_if_absent",
    "create_once",
    "delete",
    "in_transaction",
    "increment",
    "new_batch",
    "read",
    "read_all",
    "read_data",
    "run",
    "store_errors",
    "sum_of",
    "update",
    "write",
]

Transaction = firestore.Transaction
WriteBatch = firestore.WriteBatch
Writes = Transaction | WriteBatch
DocumentSnapshot = _Snapshot[Any]
Params = ParamSpec("Params")
Result = TypeVar("Result")
_BOUNDED: dict[str, Any] = {"retry": RETRY, "timeout": TIMEOUT_SECONDS}

DELETE_FIELD = firestore.DELETE_FIELD
"""As a field's value in write(merge=True) or update(): remove the field."""


def increment(amount: float) -> Any:
    """As a field's value: add `amount` to the stored number (0 when absent), on the server."""
    return firestore.Increment(amount)


def array_union(values: list[Any]) -> Any:
    """As a field's value: append to the stored array the values it does not hold yet, on the server."""
    return firestore.ArrayUnion(values)


def new_batch() -> WriteBatch:
    """Writes to apply together with commit()."""
    return get_db().batch()


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Raise the store's own error for any the database library raises inside."""
    try:
        yield
    except StoreError:
        raise
    except AlreadyExists as error:
        raise AlreadyStored(error.message) from error
    except FailedPrecondition as error:
        raise MissingIndex(error.message) from error
    except Conflict as error:
        raise Contention(error.message) from error
    except GoogleAPIError as error:
        raise StoreError(str(error)) from error


def read(ref: Any, *, fields: Sequence[str] | None = None, transaction: Transaction | None = None) -> DocumentSnapshot:
    """One document (`fields`: only these), inside `transaction` when given."""
    with store_errors():
        snapshot: DocumentSnapshot = ref.get(fields, transaction=transaction, **_BOUNDED)
        return snapshot


def read_data(collection: str, document_id: str) -> dict[str, Any] | None:
    """The fields of one document named by its collection and id; None when there is none."""
    data = read(get_db().collection(collection).document(document_id)).to_dict()
    return data if isinstance(data, dict) else None


def read_all(refs: Iterable[Any], *, transaction: Transaction | None = None) -> list[DocumentSnapshot]:
    """Several documents in one round trip, in no particular order (match them by `snapshot.reference`)."""
    refs = list(refs)
    if not refs:
        return []
    with store_errors():
        if transaction is not None:
            return list(transaction.get_all(refs, **_BOUNDED))
        return list(refs[0]._client.get_all(refs, **_BOUNDED))


def run(query: Any, *, transaction: Transaction | None = None) -> list[DocumentSnapshot]:
    """The documents a query matches."""
    with store_errors():
        return list(query.get(transaction=transaction, **_BOUNDED))


def count(query: Any) -> int:
    """How many documents a query matches, counted by the database."""
    with store_errors():
        result = query.count().get(**_BOUNDED)
    return int(result[0][0].value)


def sum_of(aggregation: Any) -> float:
    """The value of a one-figure aggregation query (`query.sum(...)`)."""
    with store_errors():
        result = aggregation.get(**_BOUNDED)
    return float(result[0][0].value or 0)


def create(ref: Any, data: dict[str, Any], *, writes: Writes | None = None) -> None:
    """Create a document; AlreadyStored when it exists (at once, or when `writes` are committed)."""
    if writes is not None:
        writes.create(ref, data)
        return
    with store_errors():
        ref.create(data, **_BOUNDED)


CLAIM_FIELD = "claim"


def create_once(ref: Any, data: dict[str, Any]) -> dict[str, Any] | None:
    """Create a document with `data`: None when this call created it, else the document someone else created.

    When the database applied a create but its answer was lost, RETRY sends it again and it meets itself as
    AlreadyExists; a random claim stored with the data tells our own create from another caller's, so a lost
    answer cannot turn the first delivery of something into a duplicate.
    """
    claim = secrets.token_hex(8)
    try:
        _create_claimed(ref, data, claim, None)
    except AlreadyStored:
        existing: dict[str, Any] = read(ref).to_dict() or {}
        return None if existing.get(CLAIM_FIELD) == claim else existing
    return None


def create_if_absent(ref: Any, data: dict[str, Any], alongside: Callable[[WriteBatch], None] | None = None) -> bool:
    """Create a document with `data`, and apply the writes `alongside` adds in the same commit: True when this call
    created it, False (and nothing written) when it existed.

    One round trip: a refusal on the first attempt is someone else's document; only after a retried attempt (the
    first one's answer lost) is the document read, to tell our own create (by its claim) from another's.
    """
    claim = secrets.token_hex(8)
    retried: list[Exception] = []
    try:
        _create_claimed(ref, data, claim, alongside, on_retry=retried.append)
    except AlreadyStored:
        return bool(retried) and (read(ref).to_dict() or {}).get(CLAIM_FIELD) == claim
    return True


def _create_claimed(
    ref: Any,
    data: dict[str, Any],
    claim: str,
    alongside: Callable[[WriteBatch], None] | None,
    on_retry: Callable[[Exception], None] | None = None,
) -> None:
    batch = new_batch()
    batch.create(ref, {**data, CLAIM_FIELD: claim})
    if alongside is not None:
        alongside(batch)
    with store_errors():
        batch.commit(retry=bounded_retry(on_error=on_retry), timeout=TIMEOUT_SECONDS)


def write(ref: Any, data: dict[str, Any], *, merge: bool = False, writes: Writes | None = None) -> None:
    """Create or replace a document (`merge`: change only the fields given), at once or as part of `writes`."""
    if writes is not None:
        writes.set(ref, data, merge=merge)
        return
    with store_errors():
        ref.set(data, merge=merge, **_BOUNDED)


def update(ref: Any, fields: dict[str, Any], *, writes: Writes | None = None) -> None:
    """Change fields of an existing document (dotted paths reach into maps), at once or as part of `writes`."""
    if writes is not None:
        writes.update(ref, fields)
        return
    with store_errors():
        ref.update(fields, **_BOUNDED)


def delete(ref: Any, *, writes: Writes | None = None) -> None:
    """Remove a document (nothing happens when there is none), at once or as part of `writes`."""
    if writes is not None:
        writes.delete(ref)
        return
    with store_errors():
        ref.delete(**_BOUNDED)


def commit(batch: Any) -> None:
    """Apply a write batch, all or nothing."""
    with store_errors():
        batch.commit(**_BOUNDED)


def in_transaction(
    work: Callable[Concatenate[Transaction, Params], Result],
    *args: Params.args,
    **kwargs: Params.kwargs,
) -> Result:
    """Run `work(transaction, ...)` in a transaction, again when concurrent writers abort it (up to
    TRANSACTION_ATTEMPTS times), so its reads and writes are applied together or not at all."""
    with store_errors():
        result: Result = firestore.transactional(work)(new_transaction(TRANSACTION_ATTEMPTS), *args, **kwargs)
        return result
