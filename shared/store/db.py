"""The Firestore client, created lazily once per instance, and the names of our collections."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.api_core import retry as retries
from google.api_core.exceptions import Aborted, Conflict
from google.cloud import firestore

from shared.config import get_settings
from shared.instance import per_instance

DEFAULT_EMULATOR_PROJECT = "demo-crm-bot"

# Every Firestore call gets a deadline, retries included, so an unreachable database fails a request in
# seconds instead of hanging it past the function's timeout (the client's default retries go on for minutes).
TIMEOUT_SECONDS = 10.0


def bounded_retry(on_error: Callable[[Exception], None] | None = None) -> retries.Retry:
    """Our retry policy; `on_error` hears of each transient failure that is retried."""
    return retries.Retry(
        predicate=retries.if_transient_error,
        initial=0.2,
        maximum=2.0,
        multiplier=2.0,
        timeout=TIMEOUT_SECONDS,
        on_error=on_error,
    )


RETRY = bounded_retry()


class Collections:
    """Names of the collections the bot owns (documented in docs/firestore.md)."""

    PROCESSED_UPDATES = "tg_processed_updates"
    LINKS = "tg_links"
    LOGIN_FLOWS = "tg_login_flows"
    LOGIN_FAILURES = "tg_login_failures"
    LINK_CODES = "tg_link_codes"
    AUDIT = "tg_audit"
    HISTORY = "tg_history"
    PENDING_ACTIONS = "tg_pending_actions"
    NOTIFICATIONS = "tg_notifications"
    COUNTERS = "tg_counters"
    GROUP_CHATS = "tg_group_chats"
    PAGE_CURSORS = "tg_page_cursors"


_interceptors: list[Any] = []


class _ObservedClient(firestore.Client):
    """A client whose emulator channel passes every RPC through the registered gRPC interceptors."""

    def _emulator_channel(self, transport: Any) -> Any:
        channel = super()._emulator_channel(transport)  # type: ignore[no-untyped-call]
        return grpc.intercept_channel(channel, *_interceptors)


def observe_rpcs(interceptor: Any) -> None:
    """Pass every Firestore RPC to the emulator through a gRPC client interceptor (for benchmarks and the
    index check, which count reads and writes and see each query); applies to clients created after it.
    """
    _interceptors.append(interceptor)
    get_db.forget()


def stop_observing() -> None:
    _interceptors.clear()
    get_db.forget()


@per_instance
def get_db() -> firestore.Client:
    """The Firestore client of this instance (honours FIRESTORE_EMULATOR_HOST)."""
    settings = get_settings()
    project = settings.google_cloud_project
    if project is None and settings.firestore_emulator_host:
        project = DEFAULT_EMULATOR_PROJECT
    client_class = _ObservedClient if _interceptors and settings.firestore_emulator_host else firestore.Client
    return client_class(project=project)


_RESERVED_ID = re.compile(r"^__.*__$")


def is_document_id(doc_id: str) -> bool:
    """True when `doc_id` can name a Firestore document (no slash, not '.', '..' or '__…__', not too long)."""
    return (
        bool(doc_id)
        and "/" not in doc_id
        and doc_id not in (".", "..")
        and not _RESERVED_ID.match(doc_id)
        and len(doc_id.encode("utf-8", "surrogatepass")) <= 1500
    )


TRANSACTION_ATTEMPTS = 10
CONTENTION_PAUSE_SECONDS = 0.02
"""The longest pause after the first aborted commit; it doubles with each one, up to half a second."""


class _BoundedTransaction(firestore.Transaction):
    """A transaction whose begin, commit and rollback have our deadline too: the library makes those three calls
    with the client's default retry, which retries an unreachable database for a minute, past the webhook's timeout.

    When its last attempt is aborted it raises Conflict, a storage error like any other, instead of the plain
    ValueError the library raises, which callers would take for a bug.
    """

    _commits = 0

    def _begin(self, retry_id: bytes | None = None) -> None:
        if self.in_progress:
            raise ValueError(f"Transaction {self._id!r} has already begun.")
        response = self._client._firestore_api.begin_transaction(
            request={"database": self._client._database_string, "options": self._options_protobuf(retry_id)},
            metadata=self._client._rpc_metadata,
            retry=RETRY,
            timeout=TIMEOUT_SECONDS,
        )
        self._id = response.transaction

    def _rollback(self) -> None:
        if not self.in_progress:  # begin failed: raising here would hide why
            return
        try:
            self._client._firestore_api.rollback(
                request={"database": self._client._database_string, "transaction": self._id},
                metadata=self._client._rpc_metadata,
                retry=RETRY,
                timeout=TIMEOUT_SECONDS,
            )
        finally:
            self._clean_up()

    def _commit(self) -> list[Any]:
        if not self.in_progress:
            raise ValueError("There is no transaction in progress to commit.")
        self._commits += 1
        try:
            response = self._client._firestore_api.commit(
                request={"database": self._client._database_string, "writes": self._write_pbs, "transaction": self._id},
                metadata=self._client._rpc_metadata,
                retry=RETRY,
                timeout=TIMEOUT_SECONDS,
            )
        except Aborted as error:
            if self._commits < self._max_attempts:
                # Transactions that read the same documents and abort each other (the emulator's lock timeouts)
                # would meet again if all began their next attempt at once: each waits a random, growing while.
                time.sleep(random.uniform(0, min(CONTENTION_PAUSE_SECONDS * 2 ** (self._commits - 1), 0.5)))
                raise  # the library begins the next attempt
            reason = f"Failed to commit transaction in {self._commits} attempts: {error.message}"
            raise Conflict(reason) from error  # type: ignore[no-untyped-call]
        self._clean_up()
        self.write_results = list(response.write_results)
        self.commit_time = response.commit_time
        return self.write_results


def new_transaction(max_attempts: int = TRANSACTION_ATTEMPTS) -> firestore.Transaction:
    """A transaction with our deadline that retries contention (several messages of one user at once) more than
    the library's default 5 times."""
    return _BoundedTransaction(get_db(), max_attempts=max_attempts)
