"""Figures for GET /stats, from aggregation queries and the daily counters (no collection is read whole)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared import clock
from shared.notify.ledger import counts_by_status
from shared.roles import Role
from shared.store import counters, history
from shared.store.db import RETRY, TIMEOUT_SECONDS, Collections, get_db


def _count(query: Any) -> int:
    result = query.count().get(retry=RETRY, timeout=TIMEOUT_SECONDS)
    return int(result[0][0].value)


def _audit_count(event: str, since: dt.datetime) -> int:
    query = (
        get_db()
        .collection(Collections.AUDIT)
        .where(filter=FieldFilter("event", "==", event))
        .where(filter=FieldFilter("at", ">=", since))
    )
    return _count(query)


def collect_stats(days: int) -> dict[str, Any]:
    """Linked users, linkings, notifications, commands, failed logins and assistant use over `days` days."""
    now = clock.now()
    since = now - dt.timedelta(days=days)
    links = get_db().collection(Collections.LINKS)
    linked_by_role = {role.value: _count(links.where(filter=FieldFilter("role", "==", role.value))) for role in Role}
    notifications = counts_by_status(since=since)
    delivered = notifications.get("sent", 0)
    attempted = sum(count for status, count in notifications.items() if status in ("sent", "failed", "blocked"))
    commands: Counter[str] = Counter()
    period = [now.date() - dt.timedelta(days=offset) for offset in range(days)]
    for day in counters.day_totals(period):
        commands.update({name: int(value) for name, value in (day.get("commands") or {}).items()})
    assistant = history.usage_totals(period)
    return {
        "period": {"days": days, "since": since.isoformat(), "until": now.isoformat()},
        "linked_users": {"total": sum(linked_by_role.values()), "by_role": linked_by_role},
        "linkings_last_7_days": _audit_count("linked", now - dt.timedelta(days=7)),
        "notifications": {
            "by_status": notifications,
            "delivery_rate": round(delivered / attempted, 4) if attempted else None,
        },
        "most_used_commands": [{"command": name, "count": count} for name, count in commands.most_common(10)],
        "failed_logins": _audit_count("login_failed", since),
        "lockouts": _audit_count("login_locked_out", since),
        "assistant": {"messages": assistant.messages, "tokens": assistant.tokens},
    }
