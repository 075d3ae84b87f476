"""Lifting login lockouts (the admin API): the failure counter of a Telegram user or of an email is forgotten."""

from __future__ import annotations

import logging
from typing import Any

from shared import clock
from shared.crm.backend import get_crm
from shared.crm.port import CrmUnreachable
from shared.store import audit, documents
from shared.store.documents import Transaction
from shared.store.login_state import delete_counter, email_failures_ref, read_counter, telegram_failures_ref

log = logging.getLogger(__name__)


def lift_telegram_user_lockout(telegram_user_id: int) -> bool:
    """Forget the Telegram user's failed logins; True when a lockout was in force (then it is audited)."""
    return documents.in_transaction(_lift, telegram_failures_ref(telegram_user_id), telegram_user_id=telegram_user_id)


def lift_email_lockout(email: str) -> bool:
    """Forget the failed logins into this (normalised) email, registered or not; True when a lockout was in force."""
    try:  # read before the transaction: the CRM may be a web API
        owner = get_crm().find_user_by_email(email)
    except CrmUnreachable as error:  # the lockout is lifted all the same; only its audit entry misses the owner
        log.warning("lifting the lockout of an email without knowing its owner: %s", error)
        owner = None
    return documents.in_transaction(
        _lift, email_failures_ref(email), email=email, owner_id=owner.id if owner is not None else None
    )


def _lift(
    transaction: Transaction,
    ref: Any,
    telegram_user_id: int | None = None,
    email: str | None = None,
    owner_id: str | None = None,
) -> bool:
    locked = read_counter(ref, transaction).locked(clock.now())
    delete_counter(ref, transaction)
    if locked:
        audit.record(
            "lockout_lifted",
            telegram_user_id=telegram_user_id,
            crm_user_id=owner_id,
            scope="email" if email is not None else "telegram_user",
            writes=transaction,
        )
    return locked
