"""Lead tools: list, create, change status."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.crm.records import OPEN_LEAD_STATUSES, Lead, LeadStatus, Where
from shared.crm.tools import access, changes
from shared.crm.tools.arguments import ListArgs, ToolArgs
from shared.crm.tools.caller import Caller
from shared.crm.tools.changes import Change
from shared.crm.tools.results import RecordPage, fetch_page, page_result
from shared.crm.tools.tool import Tool
from shared.roles import STAFF


class ListLeadsArgs(ListArgs):
    status: LeadStatus | None = Field(None, description="Only leads with this status.")
    open_only: bool = Field(False, description="Only open leads (new, contacted or qualified).")
    assigned_to_me: bool = Field(False, description="Only leads assigned to me.")


def list_leads(caller: Caller, args: ListLeadsArgs) -> RecordPage[Lead]:
    since, before = args.created_range()
    equals: dict[str, Any] = {"assigned_to": caller.crm_user_id} if args.assigned_to_me else {}
    one_of: dict[str, tuple[str, ...]] = {}
    if args.status:
        equals["status"] = args.status
    elif args.open_only:
        one_of["status"] = OPEN_LEAD_STATUSES
    where = Where(caller.org_id, equals=equals, one_of=one_of, since=since, before=before, text=args.text)
    return page_result(fetch_page(Lead, where, args.page_size, args.cursor), caller)


class CreateLeadArgs(ToolArgs):
    name: str = Field(min_length=1, max_length=200, description="The lead's name.")
    source: str | None = Field(
        None, max_length=100, description="Where the lead came from, e.g. LinkedIn, Facebook, website, referral."
    )
    email: str | None = Field(None, max_length=254, description="Their email address.")
    phone: str | None = Field(None, max_length=50, description="Their phone number.")
    company: str | None = Field(None, max_length=200, description="Their company.")
    assigned_to_email: str | None = Field(
        None, max_length=254, description="Email of the staff member to assign the lead to; by default, me."
    )


def plan_create_lead(caller: Caller, args: CreateLeadArgs) -> Change:
    fields = {
        "name": args.name,
        "source": args.source,
        "status": "new",
        "email": args.email.lower() if args.email else None,
        "phone": args.phone,
        "company": args.company,
        "assigned_to": access.assignee(caller, args.assigned_to_email),
    }
    shown = {"assigned_to": access.person(caller, fields["assigned_to"])}
    return changes.creation("lead", caller, "Create a lead", fields, shown=shown)


class UpdateLeadStatusArgs(ToolArgs):
    lead: str = Field(description="The lead's number (e.g. 4) or id.")
    status: LeadStatus = Field(description="The new status.")


def plan_update_lead_status(caller: Caller, args: UpdateLeadStatusArgs) -> Change:
    lead = access.find(Lead, caller, args.lead)
    access.ensure_may_change(caller, lead)
    return changes.update(lead, f"Change {changes.named(lead)}", {"status": args.status})


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
