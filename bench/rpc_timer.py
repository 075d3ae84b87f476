"""A gRPC interceptor that adds up the time spent waiting for Firestore, to split a request's time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc


class RpcTimer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Seconds spent in Firestore RPCs (a streaming RPC counts until its last response is read)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.seconds, self.calls = 0.0, 0

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds
            self.calls += 1

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        started = time.perf_counter()
        try:
            return continuation(details, request)
        finally:
            self.add(time.perf_counter() - started)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        started = time.perf_counter()
        return _Timed(continuation(details, request), self, started)


class _Timed:
    """A streaming call whose time ends when its responses are exhausted."""

    def __init__(self, call: Any, timer: RpcTimer, started: float) -> None:
        self._call, self._timer, self._started = call, timer, started
        self._done = False

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._timer.add(time.perf_counter() - self._started)

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._call
        finally:
            self._finish()

    def __next__(self) -> Any:
        try:
            return next(self._call)
        except StopIteration:
            self._finish()
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)
