"""CRM accounts: the `crm_users` collection the CRM writes (docs/crm-contract.md)."""

from __future__ import annotations

from google.cloud.firestore import Transaction
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.roles import Role
from shared.store.db import RETRY, TIMEOUT_SECONDS, get_db, is_document_id

CRM_USERS = "crm_users"


class CrmUser(BaseModel):
    """A CRM user as the bot needs to know them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    email: str
    name: str
    role: Role
    org_id: str
    org_name: str | None = None
    """The organisation's name, for people (`org_id` is for queries)."""
    password_hash: str = ""
    is_active: bool = True
    customer_id: str | None = None


def _parse(doc_id: str, data: dict[str, object] | None) -> CrmUser | None:
    if data is None:
        return None
    try:
        return CrmUser.model_validate({**data, "id": doc_id})
    except ValidationError:
        return None


def get_crm_user(user_id: str, transaction: Transaction | None = None) -> CrmUser | None:
    """The CRM user with this id, or None if missing or not a valid CRM user document."""
    if not is_document_id(user_id):
        return None
    snapshot = (
        get_db()
        .collection(CRM_USERS)
        .document(user_id)
        .get(transaction=transaction, retry=RETRY, timeout=TIMEOUT_SECONDS)
    )
    return _parse(snapshot.id, snapshot.to_dict()) if snapshot.exists else None


def find_crm_user_by_email(email: str, transaction: Transaction | None = None) -> CrmUser | None:
    """The CRM user with this (lower-case) email, or None."""
    query = get_db().collection(CRM_USERS).where(filter=FieldFilter("email", "==", email.lower())).limit(1)
    for snapshot in query.get(transaction=transaction, retry=RETRY, timeout=TIMEOUT_SECONDS):
        return _parse(snapshot.id, snapshot.to_dict())
    return None
