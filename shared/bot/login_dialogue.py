"""The login dialogue: asks for the email, then the password, deletes the password message, and says how it went.
The rules (steps, lockouts, linking) are shared.auth.login's."""

from __future__ import annotations

import datetime as dt
import logging
import math

from shared import clock
from shared.auth import login
from shared.auth.linking import TelegramAccount
from shared.auth.passwords import PasswordCheck
from shared.bot import menus, texts
from shared.bot.conversation import Conversation
from shared.config import get_settings
from shared.crm.periods import bot_zone
from shared.telegram.errors import TelegramError

log = logging.getLogger(__name__)

CANCEL = ("cancel", "")


def account_of(conversation: Conversation) -> TelegramAccount:
    return TelegramAccount(conversation.user.id, conversation.chat_id, conversation.user.username)


def start_login(conversation: Conversation, email_argument: str = "", greeting: str | None = None) -> None:
    """Begin (or restart) the login flow; with an email argument, go straight to the password."""
    if conversation.session is not None:
        conversation.say(texts.already_linked(name=conversation.session.user.name))
        return
    lock_end = login.telegram_user_lock_end(conversation.user.id)
    if lock_end is not None:
        _say_locked_out(conversation, lock_end)
        return
    _begin_flow(conversation, email_argument, greeting)


def _begin_flow(conversation: Conversation, email_argument: str, greeting: str | None) -> None:
    email = login.normalise_email(email_argument) if email_argument else None
    login.begin(conversation.user.id, email)
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
    return texts.LOGIN_CANCELLED if login.cancel(conversation.user.id) else None


def handle_login_text(conversation: Conversation, text: str, command: tuple[str, str] | None = None) -> bool:
    """Take a message of a user who is not linked when the login flow wants it; False to route it on.

    `command` is the message parsed as a command, if it is one. While a password is awaited, every text but a
    bare /cancel is the password, commands included; at other times commands are left to their handlers. While the
    Telegram user is locked out, a message that is not one of our commands may be a password typed again: it is
    deleted, and neither checked nor counted.
    """
    if conversation.session is not None:
        return False
    flow = login.read_flow(conversation.user.id)
    if flow is not None and flow.step == "password" and _is_password(flow, command):
        _password_step(conversation, text)
        return True
    if flow is not None and flow.step == "locked" and flow.expired(clock.now()):
        flow = None
    if (flow is None or flow.step == "locked") and (command is None or conversation.commands.find(command[0]) is None):
        lock_end = flow.expires_at if flow is not None else login.telegram_user_lock_end(conversation.user.id)
        if lock_end is not None:
            deleted = _delete_password_message(conversation)
            _say_locked_out(conversation, lock_end, texts.DELETED_DURING_LOCKOUT if deleted else "")
            return True
    if command is not None:
        return False
    if flow is None:
        if login.normalise_email(text):
            _begin_flow(conversation, text, None)
            return True
        return False
    _email_step(conversation, text)
    return True


def _is_password(flow: login.LoginFlow, command: tuple[str, str] | None) -> bool:
    """Whether a message at the password step is the password: plain text always; a command unless it is a bare
    /cancel or the flow has run out (its document outlives it until the TTL deletes it)."""
    if command is None:
        return True
    return command != CANCEL and not flow.expired(clock.now())


def _email_step(conversation: Conversation, text: str) -> None:
    email = login.normalise_email(text)
    if email is None:
        conversation.say(texts.INVALID_EMAIL)
        return
    step = login.take_email(conversation.user.id, email)
    # GONE or LOCKED: the flow moved on concurrently (another message of the same user); this one is stale.
    asks_password = step in (login.EmailStep.OK, login.EmailStep.PASSWORD)
    conversation.say(texts.ASK_PASSWORD if asks_password else texts.FLOW_EXPIRED)


def _password_step(conversation: Conversation, password: str) -> None:
    """Delete the password message, check it, then answer: the answer leaves PASSWORD_CHECK_SECONDS after the start,
    whatever was checked (the sleep comes after the transaction, so it holds no locks)."""
    with PasswordCheck(get_settings().password_check_seconds) as check:
        _delete_password_message(conversation)
        outcome = login.check_password(account_of(conversation), password, check)
    if outcome.verdict is login.Verdict.LINKED and outcome.link is not None:
        menus.after_link(conversation, outcome.link)
    elif outcome.verdict is login.Verdict.WRONG:
        conversation.say(texts.wrong_credentials(attempts_left=outcome.attempts_left))
    elif outcome.verdict is login.Verdict.LOCKED and outcome.locked_until is not None:
        _say_locked_out(conversation, outcome.locked_until)
    elif outcome.verdict is login.Verdict.UNAVAILABLE:
        conversation.say(texts.PASSWORD_NOT_CHECKED)
    else:
        conversation.say(texts.FLOW_EXPIRED)


def _say_locked_out(conversation: Conversation, lock_end: dt.datetime, before: str = "") -> None:
    """Say how long the lockout lasts, when it ends in the bot's time zone, and how to link without a password."""
    minutes = max(1, math.ceil((lock_end - clock.now()).total_seconds() / 60))
    notice = texts.locked_out(
        minutes=minutes, ends_at=lock_end.astimezone(bot_zone()), website_url=get_settings().website_url
    )
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
