"""Links between a Telegram account and a CRM account (`tg_links`, one document per Telegram user)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import BaseModel, ConfigDict, Field

from shared.roles import Role
from shared.store import documents
from shared.store.db import Collections, get_db
from shared.store.documents import Transaction, Writes

NOTIFICATION_GROUPS = ("files", "orders", "payments", "messages")


class NotificationPreferences(BaseModel):
    """Which status notifications a linked user wants."""

    model_config = ConfigDict(extra="ignore")

    enabled: bool = True
    muted_groups: list[str] = Field(default_factory=list)

    def wants(self, group: str) -> bool:
        return self.enabled and group not in self.muted_groups


class Link(BaseModel):
    """A Telegram user acting as a CRM user."""

    model_config = ConfigDict(extra="ignore")

    telegram_user_id: int
    chat_id: int
    crm_user_id: str
    role: Role
    org_id: str
    name: str
    email: str
    customer_id: str | None = None
    telegram_username: str | None = None
    linked_at: dt.datetime
    blocked: bool = False
    support_draft_until: dt.datetime | None = None
    notifications: NotificationPreferences = Field(default_factory=NotificationPreferences)


def link_ref(telegram_user_id: int) -> Any:
    return get_db().collection(Collections.LINKS).document(str(telegram_user_id))


def get_link(telegram_user_id: int, transaction: Transaction | None = None) -> Link | None:
    """The link of this Telegram user, or None."""
    snapshot = documents.read(link_ref(telegram_user_id), transaction=transaction)
    return Link.model_validate(snapshot.to_dict()) if snapshot.exists else None


def links_of_crm_user(crm_user_id: str, transaction: Transaction | None = None) -> list[Link]:
    """Every Telegram account linked to this CRM user (normally at most one)."""
    query = get_db().collection(Collections.LINKS).where(filter=FieldFilter("crm_user_id", "==", crm_user_id))
    return [Link.model_validate(s.to_dict()) for s in documents.run(query, transaction=transaction)]


def save_link(link: Link, writes: Writes | None = None) -> None:
    """Create or replace a link (at once, or as part of `writes`)."""
    documents.write(link_ref(link.telegram_user_id), link.model_dump(mode="python"), writes=writes)


def update_link(telegram_user_id: int, fields: dict[str, Any]) -> None:
    """Change some fields of an existing link."""
    documents.update(link_ref(telegram_user_id), fields)


def change_notifications(
    telegram_user_id: int, change: Callable[[NotificationPreferences], NotificationPreferences]
) -> NotificationPreferences | None:
    """Apply `change` to the preferences as stored, in a transaction so that taps at once all count; returns the
    new preferences, or None when there is no link."""

    def apply(transaction: Transaction) -> NotificationPreferences | None:
        link = get_link(telegram_user_id, transaction)
        if link is None:
            return None
        preferences = change(link.notifications)
        documents.update(link_ref(telegram_user_id), {"notifications": preferences.model_dump()}, writes=transaction)
        return preferences

    return documents.in_transaction(apply)


def delete_link(telegram_user_id: int, writes: Writes | None = None) -> None:
    """Remove a link (no error when there is none), at once or as part of `writes`."""
    documents.delete(link_ref(telegram_user_id), writes=writes)


def set_blocked(telegram_user_id: int, blocked: bool) -> bool:
    """Mark whether the user blocked the bot; False when there is no link."""
    doc = link_ref(telegram_user_id)
    if not documents.read(doc, fields=["blocked"]).exists:
        return False
    documents.update(doc, {"blocked": blocked})
    return True
