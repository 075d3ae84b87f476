"""Per-chat command menus, and ending a session (logout, deactivation, admin unlink)."""

from __future__ import annotations

import logging

from shared.bot.commands import registry
from shared.store import audit, history, links
from shared.store.db import RETRY, TIMEOUT_SECONDS, get_db
from shared.store.links import Link
from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramError

log = logging.getLogger(__name__)


def chat_scope(chat_id: int) -> dict[str, object]:
    """https://core.telegram.org/bots/api#botcommandscopechat"""
    return {"type": "chat", "chat_id": chat_id}


def show_menu(telegram: TelegramClient, link: Link) -> None:
    """Give the chat the command menu of the link's role."""
    try:
        telegram.set_my_commands(registry.menu(link.role), scope=chat_scope(link.chat_id))
    except TelegramError as error:
        log.warning("could not set the command menu of chat %s: %s", link.chat_id, error)


def end_session(telegram: TelegramClient, link: Link, reason: str) -> None:
    """Unlink, forget the conversation, and put the default (unlinked) menu back."""
    batch = get_db().batch()
    batch.delete(links.link_ref(link.telegram_user_id))
    history.forget_conversation(link.telegram_user_id, batch)
    audit.record(
        "unlinked", telegram_user_id=link.telegram_user_id, crm_user_id=link.crm_user_id, reason=reason, batch=batch
    )
    batch.commit(retry=RETRY, timeout=TIMEOUT_SECONDS)
    try:
        telegram.delete_my_commands(scope=chat_scope(link.chat_id))
    except TelegramError as error:
        log.warning("could not reset the command menu of chat %s: %s", link.chat_id, error)
