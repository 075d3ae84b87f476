"""Per-chat command menus: the role's menu on linking, the default one back when a session ends."""

from __future__ import annotations

import logging

from shared.auth import linking
from shared.bot import texts
from shared.bot.conversation import Conversation
from shared.bot.help import role_help
from shared.store.links import Link
from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramError

log = logging.getLogger(__name__)


def chat_scope(chat_id: int) -> dict[str, object]:
    """https://core.telegram.org/bots/api#botcommandscopechat"""
    return {"type": "chat", "chat_id": chat_id}


def show_menu(conversation: Conversation, link: Link) -> None:
    """Give the chat the command menu of the link's role."""
    try:
        conversation.telegram.set_my_commands(conversation.commands.menu(link.role), scope=chat_scope(link.chat_id))
    except TelegramError as error:
        log.warning("could not set the command menu of chat %s: %s", link.chat_id, error)


def after_link(conversation: Conversation, link: Link) -> None:
    """Greet a newly linked user with their role's help and give them their role's command menu."""
    show_menu(conversation, link)
    conversation.say(texts.linked_welcome(name=link.name, help_html=role_help(conversation.commands, link.role)))


def end_session(telegram: TelegramClient, link: Link, reason: str) -> None:
    """Unlink, forget the conversation, and put the default (unlinked) menu back."""
    linking.unlink(link, reason)
    try:
        telegram.delete_my_commands(scope=chat_scope(link.chat_id))
    except TelegramError as error:
        log.warning("could not reset the command menu of chat %s: %s", link.chat_id, error)
