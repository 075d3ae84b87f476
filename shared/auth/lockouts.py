"""Lifting login lockouts (the admin API): the failure counter of a Telegram user or of an email is forgotten."""

from __future__ import annotations

from typing import Any

from shared import clock
from shared.crm.users import find_crm_user_by_email
from shared.store import audit, documents
from shared.store.documents import Transaction
from shared.store.login_state import delete_counter, email_failures_ref, read_counter, telegram_failures_ref


def lift_telegram_user_lockout(telegram_user_id: int) -> bool:
    """Forget the Telegram user's failed logins; True when a lockout was in force (then it is audited)."""
    return documents.in_transaction(_lift, telegram_failures_ref(telegram_user_id), telegram_user_id=telegram_user_id)


def lift_email_lockout(email: str) -> bool:
    """Forget the failed logins into this (normalised) email, registered or not; True when a lockout was in force."""
    return documents.in_transaction(_lift, email_failures_ref(email), email=email)


def _lift(transaction: Transaction, ref: Any, telegram_user_id: int | None = None, email: str | None = None) -> bool:
    locked = read_counter(ref, transaction).locked(clock.now())
    owner = find_crm_user_by_email(email, transaction) if locked and email is not None else None
    delete_counter(ref, transaction)
    if locked:
        audit.record(
            "lockout_lifted",
            telegram_user_id=telegram_user_id,
            crm_user_id=owner.id if owner is not None else None,
            scope="email" if email is not None else "telegram_user",
            writes=transaction,
        )
    return locked
