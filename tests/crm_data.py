"""Write CRM accounts into the emulator the way the CRM does."""

from __future__ import annotations

from typing import Any

from shared.auth.passwords import hash_password
from shared.store.db import get_db

FAST_ITERATIONS = 1_000  # a real CRM uses 600k+; tests keep hashing cheap, the format is the same


def add_crm_user(
    user_id: str,
    email: str,
    password: str = "correct horse",
    *,
    role: str = "vendor",
    name: str = "Test User",
    org_id: str = "org-1",
    is_active: bool = True,
    customer_id: str | None = None,
    password_hash: str | None = None,
) -> dict[str, Any]:
    data = {
        "email": email.lower(),
        "name": name,
        "role": role,
        "org_id": org_id,
        "password_hash": password_hash if password_hash is not None else hash_password(password, FAST_ITERATIONS),
        "is_active": is_active,
    }
    if customer_id is not None:
        data["customer_id"] = customer_id
    get_db().collection("crm_users").document(user_id).set(data)
    return data
