"""CRM accounts in Firestore: the `crm_users` collection the CRM writes (docs/crm-contract.md)."""

from __future__ import annotations

from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.store import documents
from shared.store.db import get_db, is_document_id
from shared.store.documents import Transaction

CRM_USERS = "crm_users"


def read_user(user_id: str, transaction: Transaction | None = None) -> dict[str, Any] | None:
    """The account with this id (its fields and "id"), or None."""
    if not is_document_id(user_id):
        return None
    snapshot = documents.read(get_db().collection(CRM_USERS).document(user_id), transaction=transaction)
    return _account(snapshot) if snapshot.exists else None


def find_user_by_email(email: str, transaction: Transaction | None = None) -> dict[str, Any] | None:
    """The account with this email, compared lower-case as the CRM stores it, or None."""
    query = get_db().collection(CRM_USERS).where(filter=FieldFilter("email", "==", email.lower())).limit(1)
    for snapshot in documents.run(query, transaction=transaction):
        return _account(snapshot)
    return None


def _account(snapshot: documents.DocumentSnapshot) -> dict[str, Any]:
    return {**(snapshot.to_dict() or {}), "id": snapshot.id}
