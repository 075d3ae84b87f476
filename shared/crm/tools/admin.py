"""The vendor's tools: delete a record, assign a record to a staff member."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.crm.records import RECORD_TYPES, RecordGone, delete_record
from shared.crm.tools import access
from shared.crm.tools.arguments import ToolArgs
from shared.crm.tools.registry import Caller, Tool, ToolFailed, ToolResult
from shared.crm.tools.results import quoted, record_view
from shared.roles import Role
from shared.telegram.formatting import escape_html

RecordKind = Literal["customer", "lead", "deal", "issue", "order", "payment", "file"]
AssignableKind = Literal["customer", "lead", "deal", "issue"]
VENDOR_ONLY = frozenset({Role.VENDOR})


class DeleteRecordArgs(ToolArgs):
    kind: RecordKind = Field(description="What kind of record to delete.")
    record: str = Field(description="Its number (e.g. 5) or id.")


def preview_delete_record(caller: Caller, args: DeleteRecordArgs) -> str:
    record = access.find(RECORD_TYPES[args.kind], caller, args.record)
    return f"Permanently delete {escape_html(record.label)}{quoted(record.caption)}?"


def delete(caller: Caller, args: DeleteRecordArgs) -> ToolResult:
    model = RECORD_TYPES[args.kind]
    record = access.find(model, caller, args.record)
    try:
        deleted = delete_record(model, record.id, lambda current: access.ensure_same_org(caller, current))
    except RecordGone:
        raise ToolFailed(f"{record.label} no longer exists") from None
    return {"deleted": record_view(deleted, caller)}


class AssignRecordArgs(ToolArgs):
    kind: AssignableKind = Field(description="What kind of record to assign.")
    record: str = Field(description="Its number (e.g. 5) or id.")
    assignee_email: str = Field(max_length=254, description="Email of the vendor or employee who takes it over.")


def _assignment(caller: Caller, args: AssignRecordArgs) -> tuple[Any, str]:
    record = access.find(RECORD_TYPES[args.kind], caller, args.record)
    return record, access.staff_member_id(caller, args.assignee_email)


def preview_assign_record(caller: Caller, args: AssignRecordArgs) -> str:
    record, user_id = _assignment(caller, args)
    name = access.staff_name(user_id) or args.assignee_email
    return f"Assign {escape_html(record.label)}{quoted(record.caption)} to {escape_html(name)}?"


def assign(caller: Caller, args: AssignRecordArgs) -> ToolResult:
    record, user_id = _assignment(caller, args)
    updated = access.apply_change(RECORD_TYPES[args.kind], caller, record, {"assigned_to": user_id})
    return {"updated": record_view(updated, caller), "previous_assignee": getattr(record, "assigned_to", None)}


TOOLS: list[Tool[Any]] = [
    Tool(
        name="delete_record",
        description="Delete a customer, lead, deal, issue, order, payment or file (vendor only; cannot be undone).",
        args_model=DeleteRecordArgs,
        roles=VENDOR_ONLY,
        run=delete,
        changes_data=True,
        preview=preview_delete_record,
    ),
    Tool(
        name="assign_record",
        description="Assign a customer, lead, deal or issue to a staff member of the organisation (vendor only).",
        args_model=AssignRecordArgs,
        roles=VENDOR_ONLY,
        run=assign,
        changes_data=True,
        preview=preview_assign_record,
    ),
]
