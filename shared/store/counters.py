"""Daily usage counters (`tg_counters/{yyyy-mm-dd}-{shard}`), for the admin statistics.

Every command and assistant message adds to today's counters, and Firestore sustains about one write a
second per document, so each day is spread over SHARDS documents; readers add the shards up.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from typing import Any

from shared import clock
from shared.store import documents
from shared.store.db import Collections, get_db
from shared.store.documents import Writes

log = logging.getLogger(__name__)

SHARDS = 8


def add_counts(amounts: dict[str, int], writes: Writes | None = None) -> None:
    """Add to today's counters (dots separate map levels, e.g. 'commands.help'), at once or as part of `writes`
    (then they count only if the writes commit)."""
    day = clock.now().date().isoformat()
    doc = get_db().collection(Collections.COUNTERS).document(f"{day}-{random.randrange(SHARDS)}")
    update: dict[str, Any] = {"day": day}
    for name, amount in amounts.items():
        _merge(update, _nested(name, documents.increment(amount)))
    documents.write(doc, update, merge=True, writes=writes)


def day_totals(days: list[dt.date]) -> list[dict[str, Any]]:
    """Each day's counters, its shards added up (one batched read of days × SHARDS documents)."""
    collection = get_db().collection(Collections.COUNTERS)
    refs = [collection.document(f"{day.isoformat()}-{shard}") for day in days for shard in range(SHARDS)]
    totals: dict[str, dict[str, Any]] = {day.isoformat(): {} for day in days}
    for snapshot in documents.read_all(refs):
        data = snapshot.to_dict() if snapshot.exists else None
        if data:
            _add(totals[str(data.pop("day"))], data)
    return [totals[day.isoformat()] for day in days]


def _nested(name: str, value: object) -> dict[str, Any]:
    head, _, rest = name.partition(".")
    return {head: _nested(rest, value) if rest else value}


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        existing = into.get(key)
        if isinstance(existing, dict) and isinstance(value, dict):
            _merge(existing, value)
        else:
            into[key] = value


def _add(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        elif isinstance(value, int | float):
            into[key] = into.get(key, 0) + value
