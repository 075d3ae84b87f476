"""What the operator lists through the admin API: linked accounts, and the audit trail newest first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.roles import Role
from shared.store import documents
from shared.store.db import Collections, get_db
from shared.store.links import Link


def linked_users(role: Role | None, limit: int) -> list[Link]:
    """Up to `limit` links, of one role or of any."""
    query: Any = get_db().collection(Collections.LINKS)
    if role is not None:
        query = query.where(filter=FieldFilter("role", "==", role.value))
    return [Link.model_validate(snapshot.to_dict()) for snapshot in documents.run(query.limit(limit))]


def audit_entries(since: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` audit entries written from `since` on, newest first, each with its document's id as `id`."""
    query = (
        get_db()
        .collection(Collections.AUDIT)
        .where(filter=FieldFilter("at", ">=", since))
        .order_by("at", direction="DESCENDING")
        .limit(limit)
    )
    return [{"id": snapshot.id, **(snapshot.to_dict() or {})} for snapshot in documents.run(query)]
