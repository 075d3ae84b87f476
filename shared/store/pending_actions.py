"""Data changes waiting for the user's Confirm tap (`tg_pending_actions`), each run at most once.

pending ──Confirm──▶ running ──▶ done | failed, or back to pending when it could not be done for now
   └──Cancel──▶ cancelled

A run that never finished (its instance stopped half-way) is taken up again by a Confirm after RUN_LEASE, while
the confirmation has not expired; the change itself is written so that running it twice writes it once. Only the
run that holds the action records how it ended.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from shared import clock
from shared.roles import Role
from shared.store import documents
from shared.store.db import Collections, get_db, is_document_id
from shared.store.documents import Transaction

LIFETIME = dt.timedelta(minutes=5)
RUN_LEASE = dt.timedelta(minutes=3)
"""How long a running change is left to finish before a tap may run it again: well past the webhook's 60 s
timeout, as a request that timed out may still be running."""

State = Literal["pending", "running", "done", "failed", "cancelled"]


class PendingAction(BaseModel):
    """A proposed change, with who proposed it in which organisation and role, and how it ended."""

    model_config = ConfigDict(extra="ignore")

    telegram_user_id: int
    crm_user_id: str
    org_id: str
    role: Role
    tool: str
    args: dict[str, Any]
    change: dict[str, Any]
    created_at: dt.datetime
    expires_at: dt.datetime
    state: State = "pending"
    started_at: dt.datetime | None = None
    outcome: str | None = None
    """How it ended, as shown to the user (HTML)."""


def _ref(action_id: str) -> Any:
    return get_db().collection(Collections.PENDING_ACTIONS).document(action_id)


def create_pending_action(
    telegram_user_id: int, crm_user_id: str, org_id: str, role: Role, tool: str, args: dict[str, Any], change: Any
) -> str:
    """Store a proposed change; returns its id (short enough for callback_data)."""
    now = clock.now()
    action_id = secrets.token_urlsafe(12)
    action = PendingAction(
        telegram_user_id=telegram_user_id,
        crm_user_id=crm_user_id,
        org_id=org_id,
        role=role,
        tool=tool,
        args=args,
        change=change,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    documents.create(_ref(action_id), action.model_dump())
    return action_id


Resolution = Literal[
    "run", "cancelled", "expired", "running", "done", "failed", "was_cancelled", "not_yours", "unknown"
]


def resolve_pending_action(
    action_id: str, telegram_user_id: int, confirm: bool
) -> tuple[Resolution, PendingAction | None]:
    """Take the user's tap, at most once: 'run' means the caller must now run the action and finish it."""
    if not is_document_id(action_id):
        return "unknown", None
    return documents.in_transaction(_resolve, action_id, telegram_user_id, confirm)


def finish_pending_action(
    action_id: str, run: PendingAction, state: Literal["done", "failed", "pending"], outcome: str
) -> bool:
    """Record how `run` (as resolve_pending_action returned it) ended: done or failed for good, or pending again
    for LIFETIME, so that Confirm can try once more. False when another run took the action over meanwhile."""
    return documents.in_transaction(_finish, action_id, run.started_at, state, outcome)


def _finish(
    transaction: Transaction,
    action_id: str,
    started_at: dt.datetime | None,
    state: str,
    outcome: str,
) -> bool:
    stored = documents.read(_ref(action_id), transaction=transaction).to_dict() or {}
    if stored.get("state") != "running" or stored.get("started_at") != started_at:
        return False
    change: dict[str, Any] = {"state": state, "outcome": outcome}
    if state == "pending":
        change["expires_at"] = clock.now() + LIFETIME
    documents.update(_ref(action_id), change, writes=transaction)
    return True


def _resolve(
    transaction: Transaction, action_id: str, telegram_user_id: int, confirm: bool
) -> tuple[Resolution, PendingAction | None]:
    snapshot = documents.read(_ref(action_id), transaction=transaction)
    if not snapshot.exists:
        return "unknown", None
    try:
        action = PendingAction.model_validate(snapshot.to_dict())
    except ValidationError:  # stored by an older version, or not by us
        return "unknown", None
    if action.telegram_user_id != telegram_user_id:
        return "not_yours", None
    now = clock.now()
    if action.state in ("done", "failed"):
        return action.state, action
    if action.state == "cancelled":
        return "was_cancelled", action
    if action.state == "running" and (not confirm or now < (action.started_at or now) + RUN_LEASE):
        return "running", action
    if now >= action.expires_at:
        return "expired", action
    if not confirm:
        documents.update(_ref(action_id), {"state": "cancelled"}, writes=transaction)
        return "cancelled", action
    documents.update(_ref(action_id), {"state": "running", "started_at": now}, writes=transaction)
    return "run", action.model_copy(update={"state": "running", "started_at": now})
