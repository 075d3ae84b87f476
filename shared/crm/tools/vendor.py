"""The vendor's tools: delete a record, assign a record to a staff member."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.crm.records import RECORD_TYPES
from shared.crm.tools import access, changes
from shared.crm.tools.arguments import ToolArgs
from shared.crm.tools.caller import Caller
from shared.crm.tools.changes import Change, RecordKind
from shared.crm.tools.tool import Tool
from shared.roles import Role

AssignableKind = Literal["customer", "lead", "deal", "issue"]
VENDOR_ONLY = frozenset({Role.VENDOR})


class DeleteRecordArgs(ToolArgs):
    kind: RecordKind = Field(description="What kind of record to delete.")
    record: str = Field(description="Its number (e.g. 5) or id.")


def plan_delete_record(caller: Caller, args: DeleteRecordArgs) -> Change:
    record = access.find(RECORD_TYPES[args.kind], caller, args.record)
    return changes.deletion(record, f"Permanently delete {changes.named(record)}")


class AssignRecordArgs(ToolArgs):
    kind: AssignableKind = Field(description="What kind of record to assign.")
    record: str = Field(description="Its number (e.g. 5) or id.")
    assignee_email: str = Field(max_length=254, description="Email of the vendor or employee who takes it over.")


def plan_assign_record(caller: Caller, args: AssignRecordArgs) -> Change:
    record = access.find(RECORD_TYPES[args.kind], caller, args.record)
    user_id = access.staff_member_id(caller, args.assignee_email)
    before = getattr(record, "assigned_to", None)
    return changes.update(
        record,
        f"Assign {changes.named(record)}",
        {"assigned_to": user_id},
        shown={"assigned_to": access.person(caller, user_id)},
        shown_before={"assigned_to": access.person(caller, before)},
    )


TOOLS: list[Tool[Any]] = [
    Tool(
        name="delete_record",
        description="Delete a customer, lead, deal, issue, order, payment or file (vendor only; cannot be undone).",
        args_model=DeleteRecordArgs,
        roles=VENDOR_ONLY,
        plan=plan_delete_record,
    ),
    Tool(
        name="assign_record",
        description="Assign a customer, lead, deal or issue to a staff member of the organisation (vendor only).",
        args_model=AssignRecordArgs,
        roles=VENDOR_ONLY,
        plan=plan_assign_record,
    ),
]
