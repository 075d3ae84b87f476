"""Lead tools: list, create, change status."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.crm.records import OPEN_LEAD_STATUSES, Lead, LeadStatus
from shared.crm.tools import changes
from shared.crm.tools.arguments import ListArgs, NewContactArgs, ToolArgs
from shared.crm.tools.caller import Caller
from shared.crm.tools.changes import Change
from shared.crm.tools.results import RecordPage, list_page
from shared.crm.tools.tool import Tool
from shared.roles import STAFF


class ListLeadsArgs(ListArgs):
    status: LeadStatus | None = Field(None, description="Only leads with this status.")
    open_only: bool = Field(False, description="Only open leads (new, contacted or qualified).")
    assigned_to_me: bool = Field(False, description="Only leads assigned to me.")


def list_leads(caller: Caller, args: ListLeadsArgs) -> RecordPage[Lead]:
    equals: dict[str, Any] = {"assigned_to": caller.crm_user_id} if args.assigned_to_me else {}
    one_of: dict[str, tuple[str, ...]] = {}
    if args.status:
        equals["status"] = args.status
    elif args.open_only:
        one_of["status"] = OPEN_LEAD_STATUSES
    return list_page(Lead, caller, args, equals, one_of)


class CreateLeadArgs(NewContactArgs):
    source: str | None = Field(
        None, max_length=100, description="Where the lead came from, e.g. LinkedIn, Facebook, website, referral."
    )


def plan_create_lead(caller: Caller, args: CreateLeadArgs) -> Change:
    return changes.contact_creation("lead", caller, "Create a lead", args, source=args.source, status="new")


class UpdateLeadStatusArgs(ToolArgs):
    lead: str = Field(description="The lead's number (e.g. 4) or id.")
    status: LeadStatus = Field(description="The new status.")


def plan_update_lead_status(caller: Caller, args: UpdateLeadStatusArgs) -> Change:
    return changes.status_change(Lead, caller, args.lead, args.status)


TOOLS: list[Tool[Any]] = [
    Tool(
        name="list_leads",
        description=(
            "List the organisation's leads, newest first, filtered by status, open only, assigned to me, text "
            "(name, email, company, source) or when they were added. Returns a page; pass next_cursor for more."
        ),
        args_model=ListLeadsArgs,
        roles=STAFF,
        run=list_leads,
    ),
    Tool(
        name="create_lead",
        description="Add a new lead (status new), assigned to me unless the vendor names someone else.",
        args_model=CreateLeadArgs,
        roles=STAFF,
        plan=plan_create_lead,
    ),
    Tool(
        name="update_lead_status",
        description="Change a lead's status (employees only for leads assigned to them).",
        args_model=UpdateLeadStatusArgs,
        roles=STAFF,
        plan=plan_update_lead_status,
    ),
]
