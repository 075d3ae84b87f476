"""CRM accounts: the `crm_users` collection the CRM writes (docs/crm-contract.md), read through the store."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.roles import Role
from shared.store.crm import users as stored
from shared.store.documents import Transaction


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


def _parse(account: dict[str, Any] | None) -> CrmUser | None:
    if account is None:
        return None
    try:
        return CrmUser.model_validate(account)
    except ValidationError:
        return None


def get_crm_user(user_id: str, transaction: Transaction | None = None) -> CrmUser | None:
    """The CRM user with this id, or None if missing or not a valid CRM user document."""
    return _parse(stored.read_user(user_id, transaction))


def find_crm_user_by_email(email: str, transaction: Transaction | None = None) -> CrmUser | None:
    """The CRM user with this (lower-case) email, or None."""
    return _parse(stored.find_user_by_email(email, transaction))
