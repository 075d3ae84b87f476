"""Figures for GET /stats, from aggregation queries and the daily counters (no collection is read whole)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from shared import clock
from shared.notify.ledger import counts_by_status
from shared.store import counters, history
from shared.store.stats import audit_events_since, linked_users_by_role


def collect_stats(days: int) -> dict[str, Any]:
    """Linked users, linkings, notifications, commands, failed logins and assistant use over `days` days."""
    now = clock.now()
    since = now - dt.timedelta(days=days)
    linked_by_role = linked_users_by_role()
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
        "linkings_last_7_days": audit_events_since("linked", now - dt.timedelta(days=7)),
        "notifications": {
            "by_status": notifications,
            "delivery_rate": round(delivered / attempted, 4) if attempted else None,
        },
        "most_used_commands": [{"command": name, "count": count} for name, count in commands.most_common(10)],
        "failed_logins": audit_events_since("login_failed", since),
        "lockouts": audit_events_since("login_locked_out", since),
        "assistant": {"messages": assistant.messages, "tokens": assistant.tokens},
    }
