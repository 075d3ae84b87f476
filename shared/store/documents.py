"""The one door to Firestore: every read, query and write of the bot goes through these functions, which give it
our deadline and retry policy and turn the library's exceptions into the store's own (shared.store.errors).

Calling the library directly would fall back to its own retries, which go on for a minute, past the webhook's
timeout; and callers would have to know its exception types.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from google.api_core.exceptions import AlreadyExists, Conflict, FailedPrecondition, GoogleAPIError
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot as _Snapshot

from shared.store.db import RETRY, TIMEOUT_SECONDS, TRANSACTION_ATTEMPTS, new_transaction
from shared.store.errors import AlreadyStored, Contention, MissingIndex, StoreError

__all__ = [
    "DocumentSnapshot",
    "Transaction",
    "commit",
    "count",
    "create",
    "delete",
    "in_transaction",
    "read",
    "read_all",
    "run",
    "store_errors",
    "sum_of",
    "update",
    "write",
]

Transaction = firestore.Transaction
DocumentSnapshot = _Snapshot[Any]
Params = ParamSpec("Params")
Result = TypeVar("Result")
_BOUNDED: dict[str, Any] = {"retry": RETRY, "timeout": TIMEOUT_SECONDS}


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


def create(ref: Any, data: dict[str, Any]) -> None:
    """Create a document; AlreadyStored when it exists."""
    with store_errors():
        ref.create(data, **_BOUNDED)


def write(ref: Any, data: dict[str, Any], *, merge: bool = False, transaction: Transaction | None = None) -> None:
    """Create or replace a document (`merge`: change only the fields given)."""
    if transaction is not None:
        transaction.set(ref, data, merge=merge)
        return
    with store_errors():
        ref.set(data, merge=merge, **_BOUNDED)


def update(ref: Any, fields: dict[str, Any], *, transaction: Transaction | None = None) -> None:
    """Change fields of an existing document (dotted paths reach into maps)."""
    if transaction is not None:
        transaction.update(ref, fields)
        return
    with store_errors():
        ref.update(fields, **_BOUNDED)


def delete(ref: Any, *, transaction: Transaction | None = None) -> None:
    """Remove a document; nothing happens when there is none."""
    if transaction is not None:
        transaction.delete(ref)
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
