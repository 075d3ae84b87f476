"""Creating and ending links between a Telegram account and a CRM account."""

from __future__ import annotations

import logging

from google.cloud import firestore

from shared import clock
from shared.auth import menus
from shared.bot.conversation import Conversation
from shared.bot.help import role_help
from shared.crm.users import CrmUser
from shared.store import audit, history, links, login_state
from shared.store.links import Link
from shared.telegram.formatting import escape_html

log = logging.getLogger(__name__)


def link_in_transaction(
    transaction: firestore.Transaction, conversation: Conversation, user: CrmUser, method: str
) -> Link:
    """Link the conversation's Telegram user to `user`, replacing any other Telegram account of theirs.

    Reads first (Firestore transactions read before they write), then writes the link and its audit entry.
    """
    previous = [
        other
        for other in links.links_of_crm_user(user.id, transaction)
        if other.telegram_user_id != conversation.user.id
    ]
    link = Link(
        telegram_user_id=conversation.user.id,
        chat_id=conversation.chat_id,
        crm_user_id=user.id,
        role=user.role,
        org_id=user.org_id,
        name=user.name,
        email=user.email,
        customer_id=user.customer_id,
        telegram_username=conversation.user.username,
        linked_at=clock.now(),
    )
    for other in previous:
        links.delete_link(other.telegram_user_id, transaction)
        history.forget_conversation(other.telegram_user_id, transaction)
        audit.record(
            "unlinked",
            telegram_user_id=other.telegram_user_id,
            crm_user_id=user.id,
            reason="linked_from_another_telegram_account",
            transaction=transaction,
        )
    links.save_link(link, transaction)
    history.forget_conversation(conversation.user.id, transaction)  # a new link starts a new conversation
    transaction.delete(login_state.flow_ref(conversation.user.id))
    audit.record(
        "linked",
        telegram_user_id=conversation.user.id,
        crm_user_id=user.id,
        method=method,
        role=user.role.value,
        transaction=transaction,
    )
    return link


def after_link(conversation: Conversation, link: Link) -> None:
    """Greet a newly linked user with their role's help and give them their role's command menu."""
    menus.show_menu(conversation.telegram, link)
    conversation.say(
        f"✅ <b>Authentication successful!</b>\n\nWelcome, {escape_html(link.name)}!\n\n" + role_help(link.role)
    )
