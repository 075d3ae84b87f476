"""CRM accounts as the bot knows them: who a user is, in which organisation, with which role.

They come from the CRM through the port (shared/crm/port.py): read from `crm_users` in our Firestore
(docs/crm-contract.md) or from the CRM's own API (docs/crm-connector.md). A password hash is never part of one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.roles import Role


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
    is_active: bool = True
    customer_id: str | None = None


def parse_user(account: Any) -> CrmUser | None:
    """The CRM user in an account's data, or None when there is none or it is not a valid CRM user."""
    if not isinstance(account, dict):
        return None
    try:
        return CrmUser.model_validate(account)
    except ValidationError:
        return None
