"""The rules of logging in with an email and a password: the flow's steps, failure counters and lockouts. The
dialogue that asks and answers is the chat layer's (shared/bot/login_dialogue.py).

The password step asks the CRM (through the port: it may be a web API), so it never runs inside a transaction:
one transaction charges the attempt as a failure first, so that passwords sent at once cannot get more guesses
than the lockout allows; the CRM is asked; a second transaction links and gives the charge back, or records the
failure. An instance that dies in between leaves the charge: a failure too many, never one too few.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared import clock
from shared.auth.linking import TelegramAccount, link_in_transaction
from shared.auth.passwords import PasswordCheck
from shared.crm.backend import get_crm
from shared.crm.port import CrmUnreachable
from shared.crm.users import CrmUser
from shared.store import audit, documents
from shared.store.documents import Transaction
from shared.store.links import Link
from shared.store.login_state import (
    FLOW_LIFETIME,
    MAX_FAILURES,
    FailureCounter,
    LoginFlow,
    delete_counter,
    delete_flow,
    email_failures_ref,
    read_counter,
    read_flow,
    save_counter,
    save_flow,
    telegram_failures_ref,
)

__all__ = [
    "EmailStep",
    "LoginFlow",
    "PasswordOutcome",
    "Verdict",
    "begin",
    "cancel",
    "check_password",
    "normalise_email",
    "read_flow",
    "take_email",
    "telegram_user_lock_end",
]

log = logging.getLogger(__name__)

EMAIL_PATTERN = re.compile(r"^[^@\s<>\"'(),;:\\]{1,64}@(?:[\w-]{1,63}\.){1,8}[^\W\d_]{2,63}$")
MAX_EMAIL_LENGTH = 254


def normalise_email(text: str) -> str | None:
    """The lower-case email in `text`, or None when it is not one."""
    email = text.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
        return None
    return email


def begin(telegram_user_id: int, email: str | None) -> LoginFlow:
    """Begin (or restart) a login: at the password step when the email is known, else at the email step."""
    now = clock.now()
    flow = LoginFlow(step="password" if email else "email", email=email, started_at=now, expires_at=now + FLOW_LIFETIME)
    save_flow(telegram_user_id, flow)
    return flow


def cancel(telegram_user_id: int) -> bool:
    """Drop the login in progress; True when there was one that had not run out."""
    flow = read_flow(telegram_user_id)
    if flow is None:
        return False
    delete_flow(telegram_user_id)
    return not flow.expired(clock.now())


class EmailStep(StrEnum):
    """How giving the email ended."""

    OK = "ok"
    EXPIRED = "expired"
    GONE = "gone"
    """No flow any more (another message of the same user finished it)."""
    PASSWORD = "password"
    """The flow had moved on to the password meanwhile."""
    LOCKED = "locked"


def take_email(telegram_user_id: int, email: str) -> EmailStep:
    """The email step: the flow moves on to the password."""
    return documents.in_transaction(_take_email, telegram_user_id, email)


def _take_email(transaction: Transaction, telegram_user_id: int, email: str) -> EmailStep:
    now = clock.now()
    flow = read_flow(telegram_user_id, transaction)
    if flow is None:
        return EmailStep.GONE
    if flow.expired(now):
        delete_flow(telegram_user_id, transaction)
        return EmailStep.EXPIRED
    if flow.step != "email":
        return EmailStep(flow.step)
    save_flow(telegram_user_id, flow.model_copy(update={"step": "password", "email": email}), transaction)
    return EmailStep.OK


class Verdict(StrEnum):
    LINKED = "linked"
    WRONG = "wrong"
    LOCKED = "locked"
    EXPIRED = "expired"
    GONE = "gone"
    UNAVAILABLE = "unavailable"
    """The CRM could not check the password now: nothing counted, the flow still waits for it."""


@dataclass(frozen=True)
class PasswordOutcome:
    verdict: Verdict
    link: Link | None = None
    attempts_left: int = 0
    locked_until: dt.datetime | None = None


@dataclass(frozen=True)
class _Charge:
    """A password attempt counted as a failure before the CRM was asked: the counters before and after."""

    email: str
    telegram_before: FailureCounter
    telegram_charged: FailureCounter
    email_before: FailureCounter
    email_charged: FailureCounter


def check_password(account: TelegramAccount, password: str, check: PasswordCheck) -> PasswordOutcome:
    """The password step: linked, or a failure counted against the Telegram user and the email (a lockout once
    either has too many), with the audit entries."""
    charge = documents.in_transaction(_charge, account.user_id)
    if isinstance(charge, PasswordOutcome):
        return charge
    try:
        answer = get_crm().check_login(charge.email, password, check.verify)
    except CrmUnreachable as error:
        log.warning("the CRM could not check a password: %s", error)
        documents.in_transaction(_give_back, account.user_id, charge)
        return PasswordOutcome(Verdict.UNAVAILABLE)
    if answer.user is not None:
        return documents.in_transaction(_link, account, answer.user, charge)
    return documents.in_transaction(_fail, account.user_id, charge, answer.account_id)


def _charge(transaction: Transaction, telegram_user_id: int) -> _Charge | PasswordOutcome:
    now = clock.now()
    flow = read_flow(telegram_user_id, transaction)
    if flow is None or flow.step != "password" or flow.email is None:
        return PasswordOutcome(Verdict.GONE)
    if flow.expired(now):
        delete_flow(telegram_user_id, transaction)
        return PasswordOutcome(Verdict.EXPIRED)
    tg_ref, email_ref = telegram_failures_ref(telegram_user_id), email_failures_ref(flow.email)
    tg_counter, email_counter = read_counter(tg_ref, transaction), read_counter(email_ref, transaction)
    locked_until = _lock_end(now, tg_counter, email_counter)
    if locked_until is not None:
        _hold_while_locked(transaction, telegram_user_id, now, locked_until)
        return PasswordOutcome(Verdict.LOCKED, locked_until=locked_until)
    charge = _Charge(
        flow.email, tg_counter, tg_counter.after_failure(now), email_counter, email_counter.after_failure(now)
    )
    save_counter(tg_ref, charge.telegram_charged, transaction)
    save_counter(email_ref, charge.email_charged, transaction)
    return charge


def _give_back(transaction: Transaction, telegram_user_id: int, charge: _Charge) -> None:
    """Undo the charge, on each counter no other attempt charged since."""
    tg_ref, email_ref = telegram_failures_ref(telegram_user_id), email_failures_ref(charge.email)
    tg_now, email_now = read_counter(tg_ref, transaction), read_counter(email_ref, transaction)
    if tg_now == charge.telegram_charged:
        _restore(tg_ref, charge.telegram_before, transaction)
    if email_now == charge.email_charged:
        _restore(email_ref, charge.email_before, transaction)


def _restore(ref: Any, counter: FailureCounter, transaction: Transaction) -> None:
    """Put a counter back as it was before the charge: none at all when there was none."""
    if counter == FailureCounter():
        delete_counter(ref, transaction)
    else:
        save_counter(ref, counter, transaction)


def _link(transaction: Transaction, account: TelegramAccount, user: CrmUser, charge: _Charge) -> PasswordOutcome:
    # Reads before writes (Firestore's rule): the counter, then link_in_transaction's reads. The email's failures
    # end with its owner's login; the Telegram user's stay (minus this attempt): a login into one's own account
    # must not reset the count of guesses at other emails.
    flow = read_flow(account.user_id, transaction)
    if flow is None or flow.step != "password" or flow.email != charge.email:  # cancelled or finished meanwhile
        _give_back(transaction, account.user_id, charge)
        return PasswordOutcome(Verdict.GONE)
    tg_ref, email_ref = telegram_failures_ref(account.user_id), email_failures_ref(charge.email)
    tg_now = read_counter(tg_ref, transaction)
    link = link_in_transaction(transaction, account, user, method="password")
    if tg_now == charge.telegram_charged:
        _restore(tg_ref, charge.telegram_before, transaction)
    delete_counter(email_ref, transaction)
    return PasswordOutcome(Verdict.LINKED, link=link)


def _fail(transaction: Transaction, telegram_user_id: int, charge: _Charge, account_id: str | None) -> PasswordOutcome:
    now = clock.now()
    audit.record("login_failed", telegram_user_id=telegram_user_id, crm_user_id=account_id, writes=transaction)
    locked_until = _lock_end(now, charge.telegram_charged, charge.email_charged)
    if locked_until is not None:
        _hold_while_locked(transaction, telegram_user_id, now, locked_until)
        audit.record("login_locked_out", telegram_user_id=telegram_user_id, crm_user_id=account_id, writes=transaction)
        return PasswordOutcome(Verdict.LOCKED, locked_until=locked_until)
    failures = max(charge.telegram_charged.failures, charge.email_charged.failures)
    return PasswordOutcome(Verdict.WRONG, attempts_left=MAX_FAILURES - failures)


def _lock_end(now: dt.datetime, *counters: FailureCounter) -> dt.datetime | None:
    """When the last of the locks in force among these counters ends; None when none is."""
    return max((c.locked_until for c in counters if c.locked_until is not None and now < c.locked_until), default=None)


def _hold_while_locked(
    transaction: Transaction, telegram_user_id: int, now: dt.datetime, locked_until: dt.datetime
) -> None:
    """The flow waits out the lockout: until it ends, a text may be the password typed again (the email may be
    the one locked, not this Telegram user), so it is deleted unread."""
    save_flow(telegram_user_id, LoginFlow(step="locked", started_at=now, expires_at=locked_until), transaction)


def telegram_user_lock_end(telegram_user_id: int) -> dt.datetime | None:
    """When the Telegram user's lockout ends; None when none is in force."""
    return _lock_end(clock.now(), read_counter(telegram_failures_ref(telegram_user_id)))
