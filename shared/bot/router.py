"""Routes one Telegram update to the handler it needs; the same path serves webhook and long polling."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from shared.auth.session import SessionChange, load_session
from shared.bot import (
    account_commands,
    callbacks,
    change_commands,
    confirmations,
    crm_commands,
    in_progress,
    login_dialogue,
    menus,
    notification_settings,
    texts,
)
from shared.bot.callbacks import CallbackHandler
from shared.bot.commands import ANYONE, GUEST, GUESTS, Command, CommandRegistry, parse_command
from shared.bot.conversation import Conversation, WebhookReply
from shared.crm import support_drafts
from shared.roles import EVERYONE, STAFF
from shared.store import audit, links, updates
from shared.store.links import Link
from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramError
from shared.telegram.types import CallbackQuery, ChatMemberUpdated, Message, Update

log = logging.getLogger(__name__)

COMMANDS = CommandRegistry(
    (
        Command("start", texts.COMMAND_DESCRIPTIONS["start"], ANYONE, account_commands.start),
        Command("help", texts.COMMAND_DESCRIPTIONS["help"], ANYONE, account_commands.help_command),
        Command("login", texts.COMMAND_DESCRIPTIONS["login"], GUESTS, account_commands.login_command),
        Command("link", texts.COMMAND_DESCRIPTIONS["link"], GUESTS, account_commands.link_command),
        Command("me", texts.COMMAND_DESCRIPTIONS["me"], EVERYONE, account_commands.me),
        Command("logout", texts.COMMAND_DESCRIPTIONS["logout"], EVERYONE, account_commands.logout, aliases=("unlink",)),
        Command("clear", texts.COMMAND_DESCRIPTIONS["clear"], EVERYONE, account_commands.clear),
        Command("orders", texts.COMMAND_DESCRIPTIONS["orders"], EVERYONE, crm_commands.orders_command),
        Command("files", texts.COMMAND_DESCRIPTIONS["files"], EVERYONE, crm_commands.files_command),
        Command("deals", texts.COMMAND_DESCRIPTIONS["deals"], STAFF, crm_commands.deals_command),
        Command("leads", texts.COMMAND_DESCRIPTIONS["leads"], STAFF, crm_commands.leads_command),
        Command("stats", texts.COMMAND_DESCRIPTIONS["stats"], STAFF, crm_commands.stats_command),
        *change_commands.COMMANDS,
        Command("support", texts.COMMAND_DESCRIPTIONS["support"], EVERYONE, crm_commands.support_command),
        Command(
            "notifications",
            texts.COMMAND_DESCRIPTIONS["notifications"],
            EVERYONE,
            notification_settings.notifications_command,
        ),
        Command("cancel", texts.COMMAND_DESCRIPTIONS["cancel"], ANYONE, in_progress.cancel_command),
    )
)
"""Every command, in the order /help and the menus list them: the account, reading the CRM, changing it, then
support and settings."""

CALLBACKS: dict[str, CallbackHandler] = {
    confirmations.KIND: confirmations.on_tap,
    change_commands.COMPLETE_KIND: change_commands.on_choice,
    crm_commands.MORE_KIND: crm_commands.more_pressed,
    crm_commands.KEPT_MORE_KIND: crm_commands.kept_more_pressed,
    crm_commands.SUPPORT_KIND: crm_commands.support_cancel_pressed,
    notification_settings.CALLBACK_KIND: notification_settings.on_settings_button,
}
"""The handler of each kind of inline button (the part of its callback_data before ':')."""


LinkRead = Callable[[], Link | None]
"""The link of the update's sender, as already being read (see session_reader)."""


@dataclass(frozen=True)
class Delivery:
    """What the webhook brings with an update: its sender's link as already being read, and where the last reply
    may wait for the webhook's answer."""

    read_link: LinkRead | None = None
    webhook_reply: WebhookReply | None = None


def handle_update(update: Update, telegram: TelegramClient, delivery: Delivery) -> None:
    """Answer one (already de-duplicated) update."""
    handler = UPDATE_HANDLERS.get(update.kind)
    if handler is None:
        log.info("ignoring update %s of kind %s", update.update_id, update.kind)
        return
    handler(update, telegram, delivery)


def session_reader(update: Update) -> int | None:
    """The Telegram user whose session answering this update needs (a private message or a button tap), so the
    webhook can start reading their link while it claims the update; None when it needs none."""
    if update.message is not None and update.message.chat.type == "private" and update.message.from_user:
        return update.message.from_user.id
    query = update.callback_query
    if query is not None and query.message is not None and query.message.chat.type == "private":
        return query.from_user.id
    return None


def counts_of(update: Update) -> dict[str, int]:
    """What the day's usage counters add for this update, written with its claim (a duplicate counts nothing): one
    use of the command a private message names, if it is one of ours, whether or not its sender may use it."""
    message = update.message
    if message is None or message.chat.type != "private" or message.text is None:
        return {}
    parsed = parse_command(message.text)
    command = COMMANDS.find(parsed[0]) if parsed is not None else None
    return {f"commands.{command.name}": 1} if command is not None else {}


def _on_edited(message: Message, telegram: TelegramClient) -> None:
    if message.chat.type == "private":
        telegram.send_message(message.chat.id, texts.EDITED_IGNORED)


def _on_message(message: Message, telegram: TelegramClient, delivery: Delivery) -> None:
    if message.chat.type != "private":
        _answer_group(message, telegram)
        return
    if message.from_user is None:
        return
    state = load_session(message.from_user.id, delivery.read_link)
    conversation = Conversation(
        telegram, COMMANDS, message.chat.id, message.from_user, state.session, message, delivery.webhook_reply
    )
    if state.change is SessionChange.DEACTIVATED and state.ended_link is not None:
        menus.end_session(telegram, state.ended_link, reason="crm_account_inactive")
        conversation.say(texts.DEACTIVATED)
        return
    if state.change is SessionChange.ROLE_CHANGED and state.session is not None:
        menus.show_menu(conversation, state.session.link)
        audit.record(
            "role_changed",
            telegram_user_id=message.from_user.id,
            crm_user_id=state.session.crm_user_id,
            role=state.session.role.value,
        )
        conversation.say(texts.role_changed(role=state.session.role.value))

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
    command = COMMANDS.find(name)
    if command is None:
        conversation.say(texts.UNKNOWN_COMMAND)
        return
    if conversation.audience not in command.audiences:
        if conversation.session is None:
            conversation.say(texts.NOT_LINKED)
        elif GUEST in command.audiences:
            conversation.say(texts.already_linked(name=conversation.session.user.name))
        else:
            conversation.say(texts.NOT_FOR_YOUR_ROLE)
        return
    # Another command abandons a /support draft; /support starts a new one, and /cancel cancels it and says so.
    if conversation.session is not None and command.name not in ("support", "cancel"):
        support_drafts.discard_draft(conversation.session.link)
    command.handler(conversation, argument)


def _on_callback(query: CallbackQuery, telegram: TelegramClient, delivery: Delivery) -> None:
    message = query.message
    if message is None or message.chat.type != "private":
        telegram.answer_callback_query(query.id, texts.BUTTON_EXPIRED)
        return
    state = load_session(query.from_user.id, delivery.read_link)
    conversation = Conversation(
        telegram, COMMANDS, message.chat.id, query.from_user, state.session, webhook_reply=delivery.webhook_reply
    )
    callbacks.dispatch(conversation, query, CALLBACKS)


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


UPDATE_HANDLERS: dict[str, Callable[[Update, TelegramClient, Delivery], None]] = {
    "message": lambda update, telegram, delivery: _on_message(_given(update.message), telegram, delivery),
    "edited_message": lambda update, telegram, _: _on_edited(_given(update.edited_message), telegram),
    "callback_query": lambda update, telegram, delivery: _on_callback(
        _given(update.callback_query), telegram, delivery
    ),
    "my_chat_member": lambda update, telegram, _: _on_membership(_given(update.my_chat_member), telegram),
}
UPDATE_KINDS = tuple(UPDATE_HANDLERS)
"""The update kinds the bot handles, and so subscribes to (setWebhook's and getUpdates' allowed_updates)."""

T = TypeVar("T")


def _given(value: T | None) -> T:
    """The field Update.kind named: present by definition."""
    assert value is not None
    return value
