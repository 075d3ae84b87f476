"""Write CRM accounts into the emulator the way the CRM does (tests/crm_world.py writes them into either adapter)."""

from __future__ import annotations

from typing import Any

from tests.crm_world import FAST_ITERATIONS, FirestoreWorld, add_crm_account

__all__ = ["FAST_ITERATIONS", "add_crm_user"]


def add_crm_user(user_id: str, email: str, password: str = "correct horse", **fields: Any) -> dict[str, Any]:
    """add_crm_account in the emulator's crm_users."""
    return add_crm_account(FirestoreWorld(), user_id, email, password, **fields)
