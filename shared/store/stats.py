"""Counts for the admin's statistics, made by the database: no collection is read whole."""

from __future__ import annotations

import datetime as dt

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.roles import Role
from shared.store import documents
from shared.store.db import Collections, get_db


def linked_users_by_role() -> dict[str, int]:
    """How many Telegram accounts are linked, for every role (a role with none counts 0)."""
    links = get_db().collection(Collections.LINKS)
    return {role.value: documents.count(links.where(filter=FieldFilter("role", "==", role.value))) for role in Role}


def audit_events_since(event: str, since: dt.datetime) -> int:
    """How many audit entries of `event` were written from `since` on."""
    query = (
        get_db()
        .collection(Collections.AUDIT)
        .where(filter=FieldFilter("event", "==", event))
        .where(filter=FieldFilter("at", ">=", since))
    )
    return documents.count(query)
