"""What a function instance makes once and keeps while it lives: its settings, its clients, its pacers.

Everything kept per instance is made by a function decorated with `@per_instance`, and nothing else is kept at
module level, so `reset()` forgets all of it at once, as a new instance would start (tests, benchmarks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, ParamSpec, TypeVar

Params = ParamSpec("Params")
Made = TypeVar("Made")

_kept: list[PerInstance[..., object]] = []


class PerInstance(Generic[Params, Made]):
    """A function whose result, for each set of arguments, is made once per instance: callers arriving together
    on a new instance wait for the one being made instead of making their own."""

    def __init__(self, make: Callable[Params, Made]) -> None:
        self._make = make
        self._made: dict[Hashable, Made] = {}
        self._lock = threading.Lock()
        self.__doc__ = make.__doc__
        self.__name__ = make.__name__

    def __call__(self, *args: Params.args, **kwargs: Params.kwargs) -> Made:
        key = (args, tuple(sorted(kwargs.items())))
        try:
            return self._made[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._made:
                self._made[key] = self._make(*args, **kwargs)
            return self._made[key]

    def forget(self) -> None:
        """Make it again on the next call."""
        with self._lock:
            self._made.clear()


def per_instance(make: Callable[Params, Made]) -> PerInstance[Params, Made]:
    """Decorator: keep what `make` returns for the life of the instance (see PerInstance)."""
    kept = PerInstance(make)
    _kept.append(kept)  # type: ignore[arg-type]
    return kept


def reset() -> None:
    """Forget everything kept per instance."""
    for kept in _kept:
        kept.forget()
