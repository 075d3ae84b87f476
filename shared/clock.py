"""The current time, in one place so that expiry can be tested without sleeping."""

from __future__ import annotations

import datetime as dt

_offset = dt.timedelta()


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC) + _offset


def advance(delta: dt.timedelta) -> None:
    """Move this process's clock forward (tests and the local sandbox only)."""
    global _offset
    _offset += delta


def reset() -> None:
    """Undo every advance()."""
    global _offset
    _offset = dt.timedelta()
