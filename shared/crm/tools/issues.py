"""Issue (support ticket) tools: list, create, change status."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.crm.backend import get_crm
from shared.crm.records import (
    OPEN_ISSUE_STATUSES,
    Customer,
    Issue,
    IssuePriority,
    IssueStatus,
)
from shared.crm.tools import access, changes
from shared.crm.tools.arguments import ListArgs, ToolArgs
from shared.crm.tools.caller import Caller
from shared.crm.tools.changes import Change
from shared.crm.tools.results import RecordPage, list_page
from shared.crm.tools.tool import Tool
from shared.roles import EVERYONE, STAFF, Role


class ListIssuesArgs(ListArgs):
    status: IssueStatus | None = Field(None, description="Only issues with this status.")
    open_only: bool = Field(False, description="Only open issues (open or in_progress).")
    assigned_to_me: bool = Field(False, description="Staff: only issues assigned to me.")
    customer: str | None = Field(None, description="Staff: only issues of this customer (number or id).")


def list_issues(caller: Caller, args: ListIssuesArgs) -> RecordPage[Issue]:
    equals: dict[str, Any] = {}
    one_of: dict[str, tuple[str, ...]] = {}
    if caller.role is Role.CUSTOMER:
        if args.customer:
            access.find_customer(caller, args.customer)
        equals["customer_id"] = access.own_customer_id(caller)
    else:
        if args.customer:
            equals["customer_id"] = access.find_customer(caller, args.customer).id
        if args.assigned_to_me:
            equals["assigned_to"] = caller.crm_user_id
    if args.status:
        equals["status"] = args.status
    elif args.open_only:
        one_of["status"] = OPEN_ISSUE_STATUSES
    return list_page(Issue, caller, args, equals, one_of)


class CreateIssueArgs(ToolArgs):
    title: str = Field(min_length=1, max_length=200, description="A short summary of the problem.")
    description: str = Field("", max_length=4096, description="The details, in the user's words.")
    priority: IssuePriority = Field("medium", description="How urgent it is.")
    customer: str | None = Field(
        None, description="Staff: the customer (number or id) the issue is about. Customers leave it out."
    )
    assigned_to_email: str | None = Field(
        None, max_length=254, description="Vendor: email of the staff member to assign the issue to."
    )


def plan_create_issue(caller: Caller, args: CreateIssueArgs) -> Change:
    customer = access.find_customer(caller, args.customer) if args.customer else None
    if caller.role is Role.CUSTOMER:
        own = customer or get_crm().get_record(caller, Customer, access.own_customer_id(caller))
        customer = own if own is not None and own.org_id == caller.org_id else None
        customer_id: str | None = access.own_customer_id(caller)
        # A customer's ticket goes to the staff member who looks after them.
        assigned_to = customer.assigned_to if customer else None
    else:
        customer_id = customer.id if customer else None
        assigned_to = access.assignee(caller, args.assigned_to_email)
    fields: dict[str, Any] = {
        "title": args.title,
        "description": args.description or None,
        "priority": args.priority,
        "status": "open",
        "customer_id": customer_id,
        "assigned_to": assigned_to,
        "reported_by": caller.crm_user_id,
    }
    shown = {"assigned_to": access.person(caller, assigned_to), "reported_by": "you"}
    if customer is not None:
        shown["customer_id"] = customer.name or customer.label
    return changes.creation("issue", caller, "Open a support issue", fields, shown=shown)


class UpdateIssueStatusArgs(ToolArgs):
    issue: str = Field(description="The issue's number (e.g. 7) or id.")
    status: IssueStatus = Field(description="The new status.")


def plan_update_issue_status(caller: Caller, args: UpdateIssueStatusArgs) -> Change:
    return changes.status_change(Issue, caller, args.issue, args.status)


TOOLS: list[Tool[Any]] = [
    Tool(
        name="list_issues",
        description=(
            "List support issues, newest first (a customer sees only their own), filtered by status, open only, "
            "assigned to me, customer, text or when they were opened. Returns a page; pass next_cursor for more."
        ),
        args_model=ListIssuesArgs,
        roles=EVERYONE,
        run=list_issues,
    ),
    Tool(
        name="create_issue",
        description=(
            "Open a support issue (a support ticket). Customers open it for themselves; staff may name the "
            "customer it is about."
        ),
        args_model=CreateIssueArgs,
        roles=EVERYONE,
        plan=plan_create_issue,
        confirmation_exempt=frozenset({Role.CUSTOMER}),
    ),
    Tool(
        name="update_issue_status",
        description="Change an issue's status (employees only for issues assigned to them).",
        args_model=UpdateIssueStatusArgs,
        roles=STAFF,
        plan=plan_update_issue_status,
    ),
]
