"""Daily usage counters (`tg_counters/{yyyy-mm-dd}`), for the admin statistics."""

from __future__ import annotations

import logging

from google.api_core.exceptions import GoogleAPIError
from google.cloud import firestore

from shared import clock
from shared.store.db import TIMEOUT_SECONDS, Collections, get_db

log = logging.getLogger(__name__)


def count(name: str, amount: int = 1) -> None:
    """Add to today's counter `name` (dots separate map levels, e.g. 'commands.help')."""
    day = clock.now().date().isoformat()
    doc = get_db().collection(Collections.COUNTERS).document(day)
    try:
        doc.set({"day": day, **_nested(name, firestore.Increment(amount))}, merge=True, timeout=TIMEOUT_SECONDS)
    except GoogleAPIError:
        log.exception("could not count %s", name)


def _nested(name: str, value: object) -> dict[str, object]:
    head, _, rest = name.partition(".")
    return {head: _nested(rest, value) if rest else value}


def count_many(amounts: dict[str, int]) -> None:
    """Add to several of today's counters in one write."""
    day = clock.now().date().isoformat()
    doc = get_db().collection(Collections.COUNTERS).document(day)
    update: dict[str, object] = {"day": day}
    for name, amount in amounts.items():
        _merge(update, _nested(name, firestore.Increment(amount)))
    try:
        doc.set(update, merge=True, timeout=TIMEOUT_SECONDS)
    except GoogleAPIError:
        log.exception("could not count %s", ", ".join(amounts))


def _merge(into: dict[str, object], more: dict[str, object]) -> None:
    for key, value in more.items():
        existing = into.get(key)
        if isinstance(existing, dict) and isinstance(value, dict):
            _merge(existing, value)
        else:
            into[key] = value
