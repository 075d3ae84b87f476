"""Data changes waiting for the user's Confirm tap (`tg_pending_actions`), each usable once."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Literal

from google.cloud import firestore
from pydantic import BaseModel, ConfigDict

from shared import clock
from shared.store.db import RETRY, TIMEOUT_SECONDS, Collections, get_db, is_document_id, new_transaction

LIFETIME = dt.timedelta(minutes=5)


class PendingAction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    telegram_user_id: int
    crm_user_id: str
    tool: str
    args: dict[str, Any]
    preview: str
    created_at: dt.datetime
    expires_at: dt.datetime
    state: Literal["pending", "confirmed", "cancelled"] = "pending"


def _ref(action_id: str) -> Any:
    return get_db().collection(Collections.PENDING_ACTIONS).document(action_id)


def create_pending_action(
    telegram_user_id: int, crm_user_id: str, tool: str, args: dict[str, Any], preview: str
) -> str:
    """Store a proposed change; returns its id (short enough for callback_data)."""
    now = clock.now()
    action_id = secrets.token_urlsafe(12)
    action = PendingAction(
        telegram_user_id=telegram_user_id,
        crm_user_id=crm_user_id,
        tool=tool,
        args=args,
        preview=preview,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    _ref(action_id).create(action.model_dump(), retry=RETRY, timeout=TIMEOUT_SECONDS)
    return action_id


Resolution = Literal["run", "cancelled", "expired", "already_handled", "not_yours", "unknown"]


def resolve_pending_action(
    action_id: str, telegram_user_id: int, confirm: bool
) -> tuple[Resolution, PendingAction | None]:
    """Take the user's tap, at most once: 'run' means the caller must now run the action."""
    if not is_document_id(action_id):
        return "unknown", None
    resolved: tuple[Resolution, PendingAction | None] = _resolve(
        new_transaction(), action_id, telegram_user_id, confirm
    )
    return resolved


@firestore.transactional
def _resolve(
    transaction: firestore.Transaction, action_id: str, telegram_user_id: int, confirm: bool
) -> tuple[Resolution, PendingAction | None]:
    snapshot = _ref(action_id).get(transaction=transaction, retry=RETRY, timeout=TIMEOUT_SECONDS)
    if not snapshot.exists:
        return "unknown", None
    action = PendingAction.model_validate(snapshot.to_dict())
    if action.telegram_user_id != telegram_user_id:
        return "not_yours", None
    if action.state != "pending":
        return "already_handled", action
    if clock.now() >= action.expires_at:
        return "expired", action
    transaction.update(_ref(action_id), {"state": "confirmed" if confirm else "cancelled"})
    return ("run" if confirm else "cancelled"), action
