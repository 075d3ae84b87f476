"""A gRPC interceptor that sees every Firestore RPC to the emulator: counts reads and writes, and keeps each
query's shape (for the benchmarks' cost figures and the composite-index check).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from shared.store import db


@dataclass
class QueryShape:
    """What a query needs from an index: its collection, filters and ordering."""

    collection: str
    equality: tuple[str, ...]
    inequality: tuple[str, ...]
    order_by: tuple[tuple[str, str], ...]
    aggregation: bool = False


@dataclass
class FirestoreRpcs(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Counts documents read and written, by RPC, and records query shapes."""

    reads: int = 0
    writes: int = 0
    calls: list[str] = field(default_factory=list)
    queries: list[QueryShape] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    """When each RPC started and ended (perf_counter), a stream ending when its last response was read."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.reads = self.writes = 0
            self.calls.clear()
            self.queries.clear()
            self.spans.clear()

    def sequential_round_trips(self) -> int:
        """The longest chain of RPCs each of which started after the one before it ended: how many round trips a
        caller waited for one after another (RPCs in flight together count once)."""
        with self._lock:
            spans = sorted(self.spans, key=lambda span: span[1])
        depth: list[int] = []
        for index, (start, _) in enumerate(spans):
            before = [depth[earlier] for earlier in range(index) if spans[earlier][1] <= start]
            depth.append(1 + max(before, default=0))
        return max(depth, default=0)

    def _span(self, started: float, index: int | None = None) -> int:
        """Record an RPC that started at `started` as ending now (again: `index`, a stream's later response)."""
        with self._lock:
            if index is None:
                self.spans.append((started, time.perf_counter()))
                return len(self.spans) - 1
            if index < len(self.spans):  # not reset meanwhile
                self.spans[index] = (started, time.perf_counter())
            return index

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.reads, self.writes

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        method = details.method.rsplit("/", 1)[-1]
        with self._lock:
            self.calls.append(method)
            if method == "Commit":
                self.writes += len(_raw(request).writes)
            elif method == "GetDocument":
                self.reads += 1
        started = time.perf_counter()
        try:
            return continuation(details, request)
        finally:
            self._span(started)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        method = details.method.rsplit("/", 1)[-1]
        with self._lock:
            self.calls.append(method)
            if method in ("RunQuery", "RunAggregationQuery"):
                self.queries.append(_shape(request, aggregation=method == "RunAggregationQuery"))
        started = time.perf_counter()
        responses = continuation(details, request)
        return _Counted(responses, self, method, started)

    def _count(self, method: str, response: Any) -> None:
        response = _raw(response)
        found = {
            "BatchGetDocuments": lambda: response.WhichOneof("result") == "found",
            "RunQuery": lambda: response.HasField("document"),
            # Firestore bills an aggregation like one read per 1,000 index entries
            "RunAggregationQuery": lambda: response.HasField("result"),
        }.get(method)
        if found is not None and found():
            with self._lock:
                self.reads += 1


class _Counted:
    """Wraps a streaming call so its responses are counted as they are read."""

    def __init__(self, call: Any, rpcs: FirestoreRpcs, method: str, started: float) -> None:
        self._call, self._rpcs, self._method, self._started = call, rpcs, method, started
        self._span: int | None = None

    def _read(self) -> None:
        """A response (or the end) arrived: the RPC lasted at least until now. Callers often stop reading once they
        have what they need, so the span is updated at each response rather than at the end of the stream."""
        self._span = self._rpcs._span(self._started, self._span)

    def __iter__(self) -> Iterator[Any]:
        try:
            for response in self._call:
                self._read()
                self._rpcs._count(self._method, response)
                yield response
        finally:
            self._read()

    def __next__(self) -> Any:
        try:
            response = next(self._call)
        finally:
            self._read()
        self._rpcs._count(self._method, response)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


def _raw(message: Any) -> Any:
    """The protobuf message behind a proto-plus one (the only kind with WhichOneof/HasField)."""
    return type(message).pb(message) if hasattr(type(message), "pb") else message


def _shape(request: Any, aggregation: bool) -> QueryShape:
    request = _raw(request)
    query = request.structured_aggregation_query.structured_query if aggregation else request.structured_query
    collection = query.from_[0].collection_id if query.from_ else ""
    equality: list[str] = []
    inequality: list[str] = []

    def visit(filter_: Any) -> None:
        kind = filter_.WhichOneof("filter_type")
        if kind == "composite_filter":
            for sub in filter_.composite_filter.filters:
                visit(sub)
        elif kind == "field_filter":
            op = filter_.field_filter.op
            name = filter_.field_filter.field.field_path
            (equality if _is_equality(op) else inequality).append(name)
        elif kind == "unary_filter":
            equality.append(filter_.unary_filter.field.field_path)

    if query.HasField("where"):
        visit(query.where)
    order = tuple((o.field.field_path, "DESCENDING" if o.direction == 2 else "ASCENDING") for o in query.order_by)
    return QueryShape(collection, tuple(equality), tuple(inequality), order, aggregation)


def _is_equality(op: Any) -> bool:
    # FieldFilter.Operator: EQUAL=5, IN=8, ARRAY_CONTAINS=7, ARRAY_CONTAINS_ANY=9 behave as equality for indexes
    return int(op) in (5, 7, 8, 9)


def install() -> FirestoreRpcs:
    """Observe every Firestore RPC of this process from now on."""
    rpcs = FirestoreRpcs()
    db.observe_rpcs(rpcs)
    return rpcs
