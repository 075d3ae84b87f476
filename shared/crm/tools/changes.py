"""A data change, built once from a tool call: shown whole in its preview, stored with its Confirm button, and
written exactly as it was shown.

A tool that changes data plans a Change (resolving every reference and checking every permission) instead of
writing; run_tool applies it at once, and a confirmed one is applied from what was stored with its preview.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from shared import clock
from shared.crm.backend import get_crm
from shared.crm.port import CrmUnreachable, RecordChanged
from shared.crm.records import RECORD_TYPES, CrmRecord, RecordGone
from shared.crm.tools import access
from shared.crm.tools.arguments import NewContactArgs
from shared.crm.tools.caller import Caller, ToolFailed, ToolRefused
from shared.crm.tools.results import (
    Created,
    Deleted,
    RecordReference,
    RecordView,
    Updated,
    Written,
    related_customers,
    related_orders,
)
from shared.store.errors import StoreError
from shared.store.pending_actions import create_pending_action
from shared.telegram.formatting import escape_html

log = logging.getLogger(__name__)

RecordKind = Literal["customer", "lead", "deal", "issue", "order", "payment", "file"]
PREVIEW_VALUE_LENGTH = 300
"""Characters of one value a preview shows; the write keeps it whole."""
NAME_LENGTH = 80

LABELS = {
    "customer_id": "Customer",
    "order_id": "Order",
    "assigned_to": "Assigned to",
    "reported_by": "Reported by",
    "recorded_by": "Recorded by",
    "closed_at": "Closed",
}


class Change(BaseModel):
    """One create, update or delete of one record, with everything it writes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    action: Literal["create", "update", "delete"]
    kind: RecordKind
    org_id: str
    record_id: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    """Exactly what is written (None values are not written)."""
    stamped: list[str] = Field(default_factory=list)
    """Fields set to the time of writing."""
    removed: list[str] = Field(default_factory=list)
    """Fields cleared."""
    previous: dict[str, Any] = Field(default_factory=dict)
    """The record's values, when the change was built, of every field it touches (updates)."""
    headline: str
    """What it does, in plain text: 'Record a payment for order 3'."""
    shown: dict[str, str] = Field(default_factory=dict)
    """How a written value reads in the preview when not as written: people and records by name, money."""
    shown_before: dict[str, str] = Field(default_factory=dict)
    """The same, for `previous`."""

    def same_write(self, other: Change) -> bool:
        """Whether both write the same thing to the same record, from the same state of it."""
        keys = ("action", "kind", "org_id", "record_id", "fields", "stamped", "removed", "previous")
        return all(getattr(self, key) == getattr(other, key) for key in keys)

    def holds_in(self, record: CrmRecord) -> bool:
        """Whether `record` already holds what this update writes (it ran before, and only its answer was lost)."""
        values = record.model_dump()
        return (
            self.action == "update"
            and all(values.get(name) == value for name, value in self.fields.items() if value is not None)
            and all(values.get(name) is None for name in self.removed)
            and all(values.get(name) is not None for name in self.stamped)
        )

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) for every field it writes, in plain text: a preview shows them all."""
        lines = []
        for name, value in self.fields.items():
            if value is None:
                continue
            shown = self.shown.get(name, _plain(value))
            if self.action == "update":
                shown = f"{self.shown_before.get(name, _plain(self.previous.get(name)))} → {shown}"
            lines.append((_label(name), shown))
        lines += [(_label(name), "now") for name in self.stamped]
        lines += [(_label(name), "cleared") for name in self.removed]
        return lines

    def preview_html(self, prefix: str = "", ending: str = "?") -> str:
        """The headline and every written field, HTML-escaped, each value at most PREVIEW_VALUE_LENGTH long."""
        text = f"{prefix}<b>{escape_html(self.headline)}{ending}</b>"
        for label, value in self.lines():
            text += f"\n• {escape_html(label)}: {escape_html(_shorten(value))}"
        return text

    def plain_text(self) -> str:
        """The preview for the model: the headline and every field, unshortened."""
        return "\n".join([self.headline, *(f"{label}: {value}" for label, value in self.lines())])


def creation(kind: RecordKind, caller: Caller, headline: str, fields: Mapping[str, Any], **options: Any) -> Change:
    """A new record of the caller's organisation; `options` are Change's stamped and shown."""
    return Change(action="create", kind=kind, org_id=caller.org_id, headline=headline, fields=dict(fields), **options)


def contact_creation(
    kind: Literal["customer", "lead"], caller: Caller, headline: str, args: NewContactArgs, **fields: Any
) -> Change:
    """A new customer or lead, with its own `fields` beside who they are, assigned as asked (by default, to me)."""
    contact = {
        "name": args.name,
        **fields,
        "email": args.email.lower() if args.email else None,
        "phone": args.phone,
        "company": args.company,
        "assigned_to": access.assignee(caller, args.assigned_to_email),
    }
    shown = {"assigned_to": access.person(caller, contact["assigned_to"])}
    return creation(kind, caller, headline, contact, shown=shown)


def update(
    record: CrmRecord,
    headline: str,
    fields: Mapping[str, Any],
    stamped: Sequence[str] = (),
    removed: Sequence[str] = (),
    **options: Any,
) -> Change:
    """Fields of `record` changed; `options` are Change's shown and shown_before."""
    touched = [*fields, *stamped, *removed]
    return Change(
        action="update",
        kind=_kind(record),
        org_id=record.org_id,
        record_id=record.id,
        headline=headline,
        fields=dict(fields),
        stamped=list(stamped),
        removed=list(removed),
        previous={name: getattr(record, name, None) for name in touched},
        **options,
    )


def status_change(model: type[CrmRecord], caller: Caller, reference: str, status: str) -> Change:
    """A new status for the record `reference` names, which the caller must be allowed to change."""
    record = access.find(model, caller, reference)
    access.ensure_may_change(caller, record)
    return update(record, f"Change {named(record)}", {"status": status})


def deletion(record: CrmRecord, headline: str) -> Change:
    return Change(action="delete", kind=_kind(record), org_id=record.org_id, record_id=record.id, headline=headline)


def named(record: CrmRecord) -> str:
    """'deal 5 'ACME renewal'' for headlines, the name shortened."""
    caption = record.caption if len(record.caption) <= NAME_LENGTH else record.caption[: NAME_LENGTH - 1] + "…"
    return f"{record.label} '{caption}'" if caption else record.label


def apply_change(caller: Caller, change: Change, record_id: str) -> Written:
    """Write the change as the caller, permissions checked again inside the write's transaction.

    Applying it again is harmless, so a write whose answer was lost is tried once more at once: a create makes the
    document `record_id` (found, not made anew, the second time), an update the record already holds is left as
    it is, and a record gone on the second try was deleted by the first.
    """
    try:
        return _apply(caller, change, record_id, again=False)
    except StoreError as error:
        log.warning("could not %s a %s (%s); trying once more", change.action, change.kind, error)
        return _apply(caller, change, record_id, again=True)


def _apply(caller: Caller, change: Change, record_id: str, again: bool) -> Written:
    if change.org_id != caller.org_id:
        raise ToolRefused("this change belongs to another organisation")
    model = RECORD_TYPES[change.kind]
    crm = get_crm()
    now = clock.now()
    if change.action == "create":
        fields = {**change.fields, **dict.fromkeys(change.stamped, now)}
        return Created(created=_view(caller, crm.create_record(caller, model, fields, record_id)))
    if change.record_id is None:
        raise ValueError(f"a {change.action} names no record")

    def may_change(current: CrmRecord) -> None:
        access.ensure_may_change(caller, current)

    try:
        if change.action == "delete":
            return Deleted(deleted=_view(caller, crm.delete_record(caller, model, change.record_id, may_change)))
        written = {**change.fields, **dict.fromkeys(change.stamped, now)}
        updated = crm.update_record(
            caller, model, change.record_id, may_change, written, change.removed, expect=change.previous
        )
    except RecordGone:
        if again and change.action == "delete":
            return Deleted(deleted=RecordReference(kind=change.kind, id=change.record_id))
        raise ToolFailed(f"that {change.kind} no longer exists") from None
    except RecordChanged as changed:
        if changed.current is None or not change.holds_in(changed.current):
            label = changed.current.label if changed.current is not None else f"the {change.kind}"
            raise ToolFailed(f"{label} changed since this was proposed; ask again to see it as it is now") from None
        updated = changed.current  # it holds what the update writes already: its first try was made
    return Updated(updated=_view(caller, updated), previous=change.previous)


def _view(caller: Caller, record: CrmRecord) -> RecordView[CrmRecord]:
    """The written record for the result, with the names of the records it points to when they can be read (the
    write is done either way)."""
    try:
        return RecordView.of(record, caller, related_customers(caller, [record]), related_orders(caller, [record]))
    except (StoreError, CrmUnreachable) as error:
        log.warning("the names around %s could not be read: %s", record.label, error)
        return RecordView.of(record, caller)


def money(amount: float, currency: str) -> str:
    """5000.0, 'EUR' → '5,000.00 EUR'."""
    return f"{amount:,.2f} {currency}"


def _kind(record: CrmRecord) -> RecordKind:
    return cast(RecordKind, type(record).noun)


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return f"{value:,.0f}"
    return str(value)


def _shorten(value: str) -> str:
    """A long value cut for the preview, saying how much more is written than shown."""
    if len(value) <= PREVIEW_VALUE_LENGTH:
        return value
    return f"{value[:PREVIEW_VALUE_LENGTH].rstrip()}… (+{len(value) - PREVIEW_VALUE_LENGTH:,} more characters)"


def propose(caller: Caller, tool: str, args: dict[str, object], change: Change) -> str:
    """Store the change with its Confirm button's id; it runs only when this caller taps Confirm, as the account,
    organisation and role it was proposed for."""
    if caller.telegram_user_id is None:
        raise ValueError("a confirmation needs the caller's Telegram user")
    return create_pending_action(
        caller.telegram_user_id,
        caller.crm_user_id,
        caller.org_id,
        caller.role,
        tool,
        dict(args),
        change.model_dump(),
    )
