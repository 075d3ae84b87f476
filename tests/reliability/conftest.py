"""Fixtures and helpers of the reliability suite: what the servers logged, Firestore failing under them, and the
building blocks of the fuzz tests."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import pytest
from google.api_core.exceptions import GoogleAPIError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from shared.store import db
from shared.telegram.errors import TelegramError

EXPECTED_FAILURES = (GoogleAPIError, TelegramError)
"""Failures of a dependency (Firestore, Telegram) that the code logs on purpose, traceback and all."""


def is_dependency_failure(error: BaseException) -> bool:
    """A Firestore or Telegram failure (a transaction whose last attempt was aborted included: it is a Conflict)."""
    return isinstance(error, EXPECTED_FAILURES)


class ServerLog(logging.Handler):
    """Every warning and error any thread of this process logged while a test ran (the served functions too)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def crashes(self) -> list[str]:
        """Unhandled exceptions: requests Flask answered with a 500, and tracebacks of anything but a Firestore or
        Telegram failure (those are expected under faults; a KeyError or an OverflowError never is)."""
        found = []
        for record in list(self.records):
            error = record.exc_info[1] if record.exc_info else None
            flask_crash = record.getMessage().startswith("Exception on ")
            if flask_crash or (error is not None and not is_dependency_failure(error)):
                found.append(self.format(record))
        return found

    def messages(self, level: int = logging.WARNING) -> list[str]:
        return [record.getMessage() for record in list(self.records) if record.levelno >= level]


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    handler = ServerLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


class InjectedRpcError(grpc.RpcError, grpc.Call, grpc.Future):  # type: ignore[misc]
    """A Firestore RPC that failed without reaching the database.

    By default UNKNOWN, which no retry predicate retries, so a test does not wait out retry deadlines and the code
    under test sees a GoogleAPIError as it would for an unreachable database; UNAVAILABLE is what an unreachable
    database really answers, and is retried.
    """

    def __init__(self, status: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> None:
        super().__init__()
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status

    def details(self) -> str:
        return "injected by the test: Firestore unreachable"

    def result(self, timeout: float | None = None) -> Any:
        raise self

    def exception(self, timeout: float | None = None) -> Exception:
        return self

    def traceback(self, timeout: float | None = None) -> None:
        return None

    def initial_metadata(self) -> None:
        return None

    def trailing_metadata(self) -> None:
        return None

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        fn(self)

    def __iter__(self) -> InjectedRpcError:
        return self

    def __next__(self) -> Any:
        raise self


RpcFilter = Callable[[str, Any], bool]
"""(RPC method name such as 'Commit' or 'BatchGetDocuments', request) -> whether the RPC is affected."""


def writes_to(collection: str) -> RpcFilter:
    """Selects the commits that write or delete a document of `collection`."""
    marker = f"/documents/{collection}/"

    def selected(method: str, request: Any) -> bool:
        if method != "Commit":
            return False
        raw = type(request).pb(request) if hasattr(type(request), "pb") else request
        return any(marker in (write.update.name or write.delete) for write in raw.writes)

    return selected


class FirestoreFaults(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Sits between every Firestore client of this process and the emulator, and fails the RPCs it is told to."""

    def __init__(self) -> None:
        self._failing: RpcFilter | None = None
        self._status = grpc.StatusCode.UNKNOWN
        self._slow: tuple[RpcFilter, float] | None = None
        self._losing: RpcFilter | None = None
        self.failed: list[str] = []

    def fail(self, which: RpcFilter | None = None, status: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> None:
        """From now on fail the RPCs `which` selects (every RPC when None) with `status`."""
        self._failing = which or (lambda method, request: True)
        self._status = status

    def fail_writes_to(self, collection: str) -> None:
        """Fail every commit that writes or deletes a document of `collection`."""
        self.fail(writes_to(collection))

    def slow_down(self, which: RpcFilter, seconds: float) -> None:
        """Hold the RPCs `which` selects for `seconds` before sending them (a slow database)."""
        self._slow = (which, seconds)

    def lose_next_answer(self, which: RpcFilter) -> None:
        """Let the next RPC `which` selects reach the database, then fail it as a dropped connection would
        (UNAVAILABLE): the write happened, the caller does not know."""
        self._losing = which

    def recover(self) -> None:
        self._failing = None
        self._slow = None
        self._losing = None

    def _failure(self, details: Any, request: Any) -> InjectedRpcError | None:
        method = str(details.method).rsplit("/", 1)[-1]
        if self._slow is not None and self._slow[0](method, request):
            time.sleep(self._slow[1])
        if self._failing is None or not self._failing(method, request):
            return None
        self.failed.append(method)
        return InjectedRpcError(self._status)

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        losing, method = self._losing, str(details.method).rsplit("/", 1)[-1]
        if losing is not None and losing(method, request):
            self._losing = None
            continuation(details, request).result()  # applied
            self.failed.append(method)
            return InjectedRpcError(grpc.StatusCode.UNAVAILABLE)
        return self._failure(details, request) or continuation(details, request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return self._failure(details, request) or continuation(details, request)


@pytest.fixture
def firestore_faults(env: dict[str, str]) -> Iterator[FirestoreFaults]:
    """Firestore clients created from now on pass through a FirestoreFaults (healthy until told to fail)."""
    faults = FirestoreFaults()
    db.observe_rpcs(faults)
    yield faults
    db.stop_observing()


def count_documents(collection: str) -> int:
    """How many documents `collection` holds (an aggregation query: nothing is read)."""
    from shared.store.db import get_db

    result = get_db().collection(collection).count().get()  # type: ignore[no-untyped-call]
    return int(result[0][0].value)


def clear_instance_caches() -> None:
    """Forget the cached settings and clients, as a new function instance would start without them."""
    from shared import instance

    instance.reset()


@pytest.fixture
def unreachable_firestore(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """FIRESTORE_EMULATOR_HOST names a closed port (connections are refused) for the functions this test serves."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", closed)
    clear_instance_caches()
    yield closed
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", env["FIRESTORE_EMULATOR_HOST"])
    clear_instance_caches()


# ----- fuzzing -----
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
"""0: each fuzz test runs its CI-sized, derandomized set. N: N random examples per test (a longer local hunt)."""


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of the fuzz tests: no deadline (every example is HTTP and Firestore) and no example
    database written into the repository."""
    return settings(
        max_examples=FUZZ_EXAMPLES or examples,
        derandomize=not FUZZ_EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


T = TypeVar("T")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, picked with these weights (st.one_of leans towards its first branches)."""
    return st.sampled_from([strategy for weight, strategy in choices for _ in range(weight)]).flatmap(lambda s: s)


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
"""Telegram's ids fit in 64 bits, and so do Firestore's integers."""

junk = st.recursive(
    st.none() | st.booleans() | INT64 | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
"""Any JSON value: what a mangled field may hold instead of the right type."""


def mangle(draw: st.DrawFn, value: Any) -> Any:
    """The JSON value with some fields dropped, some replaced by junk of any type, and some junk added."""
    if isinstance(value, dict):
        mangled: dict[str, Any] = {}
        for key, item in value.items():
            action = draw(st.sampled_from(["keep", "keep", "recurse", "recurse", "drop", "junk"]))
            if action == "junk":
                mangled[key] = draw(junk)
            elif action == "recurse":
                mangled[key] = mangle(draw, item)
            elif action == "keep":
                mangled[key] = item
        if draw(st.booleans()):
            mangled[draw(st.text(max_size=12))] = draw(junk)
        return mangled
    if isinstance(value, list):
        return [mangle(draw, item) for item in value if draw(st.booleans())]
    return draw(junk) if draw(st.integers(0, 4)) == 0 else value
