"""Login over chat: email, then password, with lockouts; the state lives in Firestore transactions."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from dataclasses import dataclass
from enum import StrEnum

from google.cloud import firestore

from shared import clock
from shared.auth import linking
from shared.auth.passwords import PasswordCheck
from shared.bot import texts
from shared.bot.commands import registry
from shared.bot.conversation import Conversation
from shared.config import get_settings
from shared.crm.periods import bot_zone
from shared.crm.users import CrmUser, find_crm_user_by_email
from shared.store import audit
from shared.store.db import RETRY, TIMEOUT_SECONDS, new_transaction
from shared.store.links import Link
from shared.store.login_state import (
    FLOW_LIFETIME,
    MAX_FAILURES,
    FailureCounter,
    LoginFlow,
    delete_flow,
    email_failures_ref,
    flow_ref,
    read_counter,
    read_flow,
    telegram_failures_ref,
)
from shared.telegram.errors import TelegramError

log = logging.getLogger(__name__)

EMAIL_PATTERN = re.compile(r"^[^@\s<>\"'(),;:\\]{1,64}@(?:[\w-]{1,63}\.){1,8}[^\W\d_]{2,63}$")
MAX_EMAIL_LENGTH = 254


def normalise_email(text: str) -> str | None:
    """The lower-case email in `text`, or None when it is not one."""
    email = text.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(email):
        return None
    return email


def start_login(conversation: Conversation, email_argument: str = "", greeting: str | None = None) -> None:
    """Begin (or restart) the login flow; with an email argument, go straight to the password."""
    if conversation.session is not None:
        conversation.say(texts.already_linked(conversation.session.user.name))
        return
    lock_end = _telegram_user_lock_end(conversation.user.id)
    if lock_end is not None:
        _say_locked_out(conversation, lock_end)
        return
    _begin_flow(conversation, email_argument, greeting)


def _begin_flow(conversation: Conversation, email_argument: str, greeting: str | None) -> None:
    now = clock.now()
    email = normalise_email(email_argument) if email_argument else None
    flow = LoginFlow(
        step="password" if email else "email",
        email=email,
        started_at=now,
        expires_at=now + FLOW_LIFETIME,
    )
    flow_ref(conversation.user.id).set(flow.model_dump(), retry=RETRY, timeout=TIMEOUT_SECONDS)
    if email_argument and email is None:
        conversation.say(texts.INVALID_EMAIL)
    elif email:
        conversation.say(texts.ASK_PASSWORD)
    else:
        conversation.say(greeting or texts.ASK_EMAIL)


def cancel_login(conversation: Conversation) -> str | None:
    """Drop a guest's login flow in progress; what to tell them, or None when there was none (linked users never
    have one: linking deletes it, so their /cancel reads nothing here)."""
    if conversation.session is not None:
        return None
    flow = read_flow(conversation.user.id)
    if flow is None:
        return None
    delete_flow(conversation.user.id)
    return None if flow.expired(clock.now()) else texts.LOGIN_CANCELLED


CANCEL = ("cancel", "")


def handle_login_text(conversation: Conversation, text: str, command: tuple[str, str] | None = None) -> bool:
    """Take a message of a user who is not linked when the login flow wants it; False to route it on.

    `command` is the message parsed as a command, if it is one. While a password is awaited, every text but a
    bare /cancel is the password, commands included; at other times commands are left to their handlers. While the
    Telegram user is locked out, a message that is not one of our commands may be a password typed again: it is
    deleted, and neither checked nor counted.
    """
    if conversation.session is not None:
        return False
    flow = read_flow(conversation.user.id)
    if flow is not None and flow.step == "password" and _is_password(flow, command):
        _password_step(conversation, text)
        return True
    if flow is not None and flow.step == "locked" and flow.expired(clock.now()):
        flow = None
    if (flow is None or flow.step == "locked") and (command is None or registry.find(command[0]) is None):
        lock_end = flow.expires_at if flow is not None else _telegram_user_lock_end(conversation.user.id)
        if lock_end is not None:
            deleted = _delete_password_message(conversation)
            _say_locked_out(conversation, lock_end, texts.DELETED_DURING_LOCKOUT if deleted else "")
            return True
    if command is not None:
        return False
    if flow is None:
        if normalise_email(text):
            _begin_flow(conversation, text, None)
            return True
        return False
    _email_step(conversation, text)
    return True


def _is_password(flow: LoginFlow, command: tuple[str, str] | None) -> bool:
    """Whether a message at the password step is the password: plain text always; a command unless it is a bare
    /cancel or the flow has run out (its document outlives it until the TTL deletes it)."""
    if command is None:
        return True
    return command != CANCEL and not flow.expired(clock.now())


def _email_step(conversation: Conversation, text: str) -> None:
    email = normalise_email(text)
    if email is None:
        conversation.say(texts.INVALID_EMAIL)
        return
    transaction = new_transaction()
    outcome = _take_email(transaction, conversation.user.id, email)
    if outcome == "expired":
        conversation.say(texts.FLOW_EXPIRED)
    elif outcome == "ok":
        conversation.say(texts.ASK_PASSWORD)
    else:
        # The flow moved on concurrently (another message of the same user); treat this one as stale.
        conversation.say(texts.ASK_PASSWORD if outcome == "password" else texts.FLOW_EXPIRED)


@firestore.transactional
def _take_email(transaction: firestore.Transaction, telegram_user_id: int, email: str) -> str:
    now = clock.now()
    flow = read_flow(telegram_user_id, transaction)
    if flow is None:
        return "gone"
    if flow.expired(now):
        transaction.delete(flow_ref(telegram_user_id))
        return "expired"
    if flow.step != "email":
        return flow.step
    transaction.set(
        flow_ref(telegram_user_id), flow.model_copy(update={"step": "password", "email": email}).model_dump()
    )
    return "ok"


class Verdict(StrEnum):
    LINKED = "linked"
    WRONG = "wrong"
    LOCKED = "locked"
    EXPIRED = "expired"
    GONE = "gone"


@dataclass(frozen=True)
class PasswordOutcome:
    verdict: Verdict
    link: Link | None = None
    attempts_left: int = 0
    locked_until: dt.datetime | None = None


def _password_step(conversation: Conversation, password: str) -> None:
    """Delete the password message, check it, then answer: the answer leaves PASSWORD_CHECK_SECONDS after the start,
    whatever was checked (the sleep comes after the transaction, so it holds no locks)."""
    with PasswordCheck(get_settings().password_check_seconds) as check:
        _delete_password_message(conversation)
        outcome = _check_password(new_transaction(), conversation, password, check)
    if outcome.verdict is Verdict.LINKED and outcome.link is not None:
        linking.after_link(conversation, outcome.link)
    elif outcome.verdict is Verdict.WRONG:
        conversation.say(texts.wrong_credentials(outcome.attempts_left))
    elif outcome.verdict is Verdict.LOCKED and outcome.locked_until is not None:
        _say_locked_out(conversation, outcome.locked_until)
    elif outcome.verdict is Verdict.EXPIRED:
        conversation.say(texts.FLOW_EXPIRED)
    else:
        conversation.say(texts.FLOW_EXPIRED)


@firestore.transactional
def _check_password(
    transaction: firestore.Transaction, conversation: Conversation, password: str, check: PasswordCheck
) -> PasswordOutcome:
    now = clock.now()
    telegram_user_id = conversation.user.id
    flow = read_flow(telegram_user_id, transaction)
    if flow is None or flow.step != "password" or flow.email is None:
        return PasswordOutcome(Verdict.GONE)
    if flow.expired(now):
        transaction.delete(flow_ref(telegram_user_id))
        return PasswordOutcome(Verdict.EXPIRED)
    tg_ref, email_ref = telegram_failures_ref(telegram_user_id), email_failures_ref(flow.email)
    tg_counter, email_counter = read_counter(tg_ref, transaction), read_counter(email_ref, transaction)
    locked_until = _lock_end(now, tg_counter, email_counter)
    if locked_until is not None:
        _hold_while_locked(transaction, telegram_user_id, now, locked_until)
        return PasswordOutcome(Verdict.LOCKED, locked_until=locked_until)

    user = find_crm_user_by_email(flow.email, transaction)
    if _credentials_match(check, user, password) and user is not None:
        link = linking.link_in_transaction(transaction, conversation, user, method="password")
        # The email's failures end with its owner's login; the Telegram user's stay: a login into one's own
        # account must not reset the count of guesses at other emails.
        transaction.delete(email_ref)
        return PasswordOutcome(Verdict.LINKED, link=link)

    tg_after, email_after = tg_counter.after_failure(now), email_counter.after_failure(now)
    transaction.set(tg_ref, tg_after.model_dump())
    transaction.set(email_ref, email_after.model_dump())
    crm_user_id = user.id if user else None
    audit.record("login_failed", telegram_user_id=telegram_user_id, crm_user_id=crm_user_id, transaction=transaction)
    locked_until = _lock_end(now, tg_after, email_after)
    if locked_until is not None:
        _hold_while_locked(transaction, telegram_user_id, now, locked_until)
        audit.record(
            "login_locked_out", telegram_user_id=telegram_user_id, crm_user_id=crm_user_id, transaction=transaction
        )
        return PasswordOutcome(Verdict.LOCKED, locked_until=locked_until)
    return PasswordOutcome(Verdict.WRONG, attempts_left=MAX_FAILURES - max(tg_after.failures, email_after.failures))


def _credentials_match(check: PasswordCheck, user: CrmUser | None, password: str) -> bool:
    """The password against the account's hash (none for an unknown email); an inactive account never matches."""
    matches = check.verify(password, user.password_hash if user is not None else None)
    return matches and user is not None and user.is_active


def _lock_end(now: dt.datetime, *counters: FailureCounter) -> dt.datetime | None:
    """When the last of the locks in force among these counters ends; None when none is."""
    return max((c.locked_until for c in counters if c.locked_until is not None and now < c.locked_until), default=None)


def _hold_while_locked(
    transaction: firestore.Transaction, telegram_user_id: int, now: dt.datetime, locked_until: dt.datetime
) -> None:
    """The flow waits out the lockout: until it ends, a text may be the password typed again (the email may be
    the one locked, not this Telegram user), so it is deleted unread."""
    locked = LoginFlow(step="locked", started_at=now, expires_at=locked_until)
    transaction.set(flow_ref(telegram_user_id), locked.model_dump())


def _telegram_user_lock_end(telegram_user_id: int) -> dt.datetime | None:
    return _lock_end(clock.now(), read_counter(telegram_failures_ref(telegram_user_id)))


def _say_locked_out(conversation: Conversation, lock_end: dt.datetime, before: str = "") -> None:
    """Say how long the lockout lasts, when it ends in the bot's time zone, and how to link without a password."""
    minutes = max(1, math.ceil((lock_end - clock.now()).total_seconds() / 60))
    notice = texts.locked_out(minutes, lock_end.astimezone(bot_zone()), get_settings().website_url)
    conversation.say(f"{before}\n\n{notice}" if before else notice)


def _delete_password_message(conversation: Conversation) -> bool:
    """Delete the message that is (or may be) a password; False, and the user asked to, when Telegram refuses."""
    if conversation.message is None:
        return False
    try:
        conversation.telegram.delete_message(conversation.chat_id, conversation.message.message_id)
    except TelegramError as error:
        log.warning("could not delete a password message: %s", error.description)
        conversation.say(texts.PASSWORD_NOT_DELETED)
        return False
    return True
