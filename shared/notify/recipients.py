"""Who gets an event: the CRM user it names, through their Telegram link, if they may see it and want it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.crm.backend import get_crm
from shared.crm.records import RECORD_TYPES, CrmRecord
from shared.crm.users import CrmUser
from shared.notify.events import Event
from shared.notify.ledger import DeliveryStatus
from shared.roles import Role
from shared.store import links
from shared.store.links import Link

# Refusals no re-drive can change: re-drives recognise them by these words in the ledger, old entries too.
OTHER_ORGANISATION = "the record belongs to another organisation than the recipient's"
OTHER_CUSTOMER = "a customer only gets notifications about their own records: this one belongs to another customer"


@dataclass(frozen=True)
class Recipient:
    """A linked, active CRM user who may see the event and wants it."""

    user: CrmUser
    link: Link


@dataclass(frozen=True)
class Refusal:
    """Why the event is not sent, and the ledger status that says so."""

    status: DeliveryStatus
    reason: str
    user: CrmUser | None = None
    link: Link | None = None


def find_recipient(event: Event) -> Recipient | Refusal:
    """The recipient of an event, or why there is none. Reads the CRM, never writes it."""
    if event.user_id is not None:
        user = get_crm().get_user(event.user_id)
        named = "user_id"
    else:
        user = get_crm().find_user_by_email(str(event.email))
        named = "email"
    if user is None:
        return Refusal(DeliveryStatus.NOT_LINKED, f"no CRM user has this {named}")
    if not user.is_active:
        return Refusal(DeliveryStatus.NOT_LINKED, "the CRM user is not active", user)
    linked = links.links_of_crm_user(user.id)
    if not linked:
        return Refusal(DeliveryStatus.NOT_LINKED, "the CRM user has not linked a Telegram account", user)
    link = max(linked, key=lambda candidate: candidate.linked_at)
    forbidden = _why_not_visible(event, user)
    if forbidden is not None:
        return Refusal(DeliveryStatus.FAILED, forbidden, user, link)
    if link.blocked:
        return Refusal(DeliveryStatus.BLOCKED, "the user has blocked the bot", user, link)
    if not link.notifications.enabled:
        return Refusal(DeliveryStatus.MUTED, "the user turned notifications off", user, link)
    if not link.notifications.wants(event.group):
        return Refusal(DeliveryStatus.MUTED, f"the user muted {event.group} notifications", user, link)
    return Recipient(user, link)


def _why_not_visible(event: Event, user: CrmUser) -> str | None:
    """A reason the recipient may not see this event, or None.

    A customer only hears about their own records: the customer named in the event's data and the owner
    of the CRM record it is about (when the CRM has it) must both be the recipient's. Nobody
    hears about another organisation's records.
    """
    record = _record(event)
    if record is not None and record.org_id != user.org_id:
        return OTHER_ORGANISATION
    if user.role is not Role.CUSTOMER:
        return None
    owners = {event.data.customer_id, record.customer_id if record is not None else None} - {None}
    if any(owner != user.customer_id for owner in owners):
        return OTHER_CUSTOMER
    return None


class _Owner(CrmRecord):
    """Whose a record is, and nothing else: a status or a total the bot cannot read must not hide the owner."""

    number: Any = None
    created_at: Any = None
    updated_at: Any = None
    customer_id: Any = None


_OWNERS: dict[str, type[_Owner]] = {
    model.collection: type(f"{model.__name__}Owner", (_Owner,), {"collection": model.collection, "noun": model.noun})
    for model in RECORD_TYPES.values()
}


def _record(event: Event) -> _Owner | None:
    """Who owns the CRM record the event is about, read by the bot itself (it checks organisation and customer)."""
    path = event.record_path
    if path is None:
        return None
    collection, record_id = path
    return get_crm().get_record(None, _OWNERS[collection], record_id)
