"""Routes one Telegram update to the handler it needs; the same path serves webhook and long polling."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

# Modules with commands and callbacks register them on import; /help lists them in HELP_ORDER below.
from shared.auth.session import SessionChange, load_session
from shared.bot import (
    account_commands,
    callbacks,
    change_commands,  # noqa: F401  (registers the commands that change data)
    crm_commands,
    in_progress,  # noqa: F401
    login_dialogue,
    menus,
    notification_settings,  # noqa: F401
    texts,
)
from shared.bot.commands import GUEST, parse_command, registry
from shared.bot.conversation import Conversation
from shared.crm import support_drafts
from shared.store import audit, counters, links, updates
from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramError
from shared.telegram.types import CallbackQuery, ChatMemberUpdated, Message, Update

log = logging.getLogger(__name__)

HELP_ORDER = (
    *("start", "help", "login", "link", "me", "logout", "clear"),
    *("orders", "files", "deals", "leads", "stats"),
    *("newlead", "customer", "newdeal", "stage", "status", "issue", "payment", "assign", "delete"),
    *("support", "notifications", "cancel"),
)
"""Account commands first, then reading, then changing the CRM, then support and settings."""
registry.show_in_order(HELP_ORDER)


def handle_update(update: Update, telegram: TelegramClient) -> None:
    """Answer one (already de-duplicated) update."""
    handler = UPDATE_HANDLERS.get(update.kind)
    if handler is None:
        log.info("ignoring update %s of kind %s", update.update_id, update.kind)
        return
    handler(update, telegram)


def _on_edited(message: Message, telegram: TelegramClient) -> None:
    if message.chat.type == "private":
        telegram.send_message(message.chat.id, texts.EDITED_IGNORED)


def _on_message(message: Message, telegram: TelegramClient) -> None:
    if message.chat.type != "private":
        _answer_group(message, telegram)
        return
    if message.from_user is None:
        return
    state = load_session(message.from_user.id)
    conversation = Conversation(telegram, message.chat.id, message.from_user, state.session, message)
    if state.change is SessionChange.DEACTIVATED and state.ended_link is not None:
        menus.end_session(telegram, state.ended_link, reason="crm_account_inactive")
        conversation.say(texts.DEACTIVATED)
        return
    if state.change is SessionChange.ROLE_CHANGED and state.session is not None:
        menus.show_menu(telegram, state.session.link)
        audit.record(
            "role_changed",
            telegram_user_id=message.from_user.id,
            crm_user_id=state.session.crm_user_id,
            role=state.session.role.value,
        )
        conversation.say(texts.role_changed(state.session.role.value))

    text = message.text
    if text is None:
        conversation.say(texts.TEXT_ONLY)
        return
    parsed = parse_command(text)
    # Only a user who is not linked can have a login flow (linking deletes it): linked users' updates never read it.
    if conversation.session is None and login_dialogue.handle_login_text(conversation, text, parsed):
        return
    if parsed is not None:
        _run_command(conversation, *parsed)
        return
    if conversation.session is None:
        conversation.say(texts.NOT_LINKED)
        return
    if crm_commands.take_support_message(conversation, text):
        return
    account_commands.answer_free_text(conversation, text)


def _run_command(conversation: Conversation, name: str, argument: str) -> None:
    command = registry.find(name)
    if command is None:
        conversation.say(texts.UNKNOWN_COMMAND)
        return
    if conversation.audience not in command.audiences:
        if conversation.session is None:
            conversation.say(texts.NOT_LINKED)
        elif GUEST in command.audiences:
            conversation.say(texts.already_linked(conversation.session.user.name))
        else:
            conversation.say(texts.NOT_FOR_YOUR_ROLE)
        return
    counters.count(f"commands.{command.name}")
    # Another command abandons a /support draft; /support starts a new one, and /cancel cancels it and says so.
    if conversation.session is not None and command.name not in ("support", "cancel"):
        support_drafts.discard_draft(conversation.session.link)
    command.handler(conversation, argument)


def _on_callback(query: CallbackQuery, telegram: TelegramClient) -> None:
    message = query.message
    if message is None or message.chat.type != "private":
        telegram.answer_callback_query(query.id, texts.BUTTON_EXPIRED)
        return
    state = load_session(query.from_user.id)
    conversation = Conversation(telegram, message.chat.id, query.from_user, state.session)
    callbacks.dispatch(conversation, query)


def _on_membership(change: ChatMemberUpdated, telegram: TelegramClient) -> None:
    chat = change.chat
    status = change.new_chat_member.status
    if chat.type == "private":
        blocked = status == "kicked"
        if links.set_blocked(change.from_user.id, blocked):
            audit.record("bot_blocked" if blocked else "bot_unblocked", telegram_user_id=change.from_user.id)
        return
    if status in ("member", "administrator"):
        _say_private_only(chat.id, telegram)


def _answer_group(message: Message, telegram: TelegramClient) -> None:
    """In groups and channels: say once per chat that the bot works in private, touch no CRM data."""
    if updates.claim_group_notice(message.chat.id):
        _say_private_only(message.chat.id, telegram)


def _say_private_only(chat_id: int, telegram: TelegramClient) -> None:
    try:
        telegram.send_message(chat_id, texts.PRIVATE_ONLY)
    except TelegramError as error:
        log.info("could not post in chat %s: %s", chat_id, error)


UPDATE_HANDLERS: dict[str, Callable[[Update, TelegramClient], None]] = {
    "message": lambda update, telegram: _on_message(_given(update.message), telegram),
    "edited_message": lambda update, telegram: _on_edited(_given(update.edited_message), telegram),
    "callback_query": lambda update, telegram: _on_callback(_given(update.callback_query), telegram),
    "my_chat_member": lambda update, telegram: _on_membership(_given(update.my_chat_member), telegram),
}
UPDATE_KINDS = tuple(UPDATE_HANDLERS)
"""The update kinds the bot handles, and so subscribes to (setWebhook's and getUpdates' allowed_updates)."""

T = TypeVar("T")


def _given(value: T | None) -> T:
    """The field Update.kind named: present by definition."""
    assert value is not None
    return value
