"""Creating and ending links between a Telegram account and a CRM account."""

from __future__ import annotations

from dataclasses import dataclass

from shared import clock
from shared.crm.users import CrmUser
from shared.store import audit, documents, history, links, login_state
from shared.store.documents import Transaction
from shared.store.links import Link


@dataclass(frozen=True)
class TelegramAccount:
    """The Telegram side of a link: who writes, from which private chat."""

    user_id: int
    chat_id: int
    username: str | None = None


def link_in_transaction(transaction: Transaction, account: TelegramAccount, user: CrmUser, method: str) -> Link:
    """Link the Telegram account to `user`, replacing any other Telegram account of theirs.

    Reads first (Firestore transactions read before they write), then writes the link and its audit entry.
    """
    previous = [
        other for other in links.links_of_crm_user(user.id, transaction) if other.telegram_user_id != account.user_id
    ]
    link = Link(
        telegram_user_id=account.user_id,
        chat_id=account.chat_id,
        crm_user_id=user.id,
        role=user.role,
        org_id=user.org_id,
        name=user.name,
        email=user.email,
        customer_id=user.customer_id,
        telegram_username=account.username,
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
            writes=transaction,
        )
    links.save_link(link, transaction)
    history.forget_conversation(account.user_id, transaction)  # a new link starts a new conversation
    login_state.delete_flow(account.user_id, transaction)
    audit.record(
        "linked",
        telegram_user_id=account.user_id,
        crm_user_id=user.id,
        method=method,
        role=user.role.value,
        writes=transaction,
    )
    return link


def unlink(link: Link, reason: str) -> None:
    """End a link (logout, deactivation, admin unlink): the link and the conversation go, with an audit entry,
    all in one commit."""
    batch = documents.new_batch()
    links.delete_link(link.telegram_user_id, batch)
    history.forget_conversation(link.telegram_user_id, batch)
    audit.record(
        "unlinked", telegram_user_id=link.telegram_user_id, crm_user_id=link.crm_user_id, reason=reason, writes=batch
    )
    documents.commit(batch)
