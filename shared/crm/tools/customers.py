"""Customer tools: list, get, create."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.crm.records import Customer, Where, get_record
from shared.crm.tools import access, changes
from shared.crm.tools.arguments import ListArgs, ToolArgs
from shared.crm.tools.caller import Caller, ToolFailed
from shared.crm.tools.changes import Change
from shared.crm.tools.results import RecordPage, RecordView, ToolReply, fetch_page, page_result
from shared.crm.tools.tool import Tool
from shared.roles import EVERYONE, STAFF, Role


class ListCustomersArgs(ListArgs):
    assigned_to_me: bool = Field(False, description="Only customers assigned to me.")


def list_customers(caller: Caller, args: ListCustomersArgs) -> RecordPage[Customer]:
    since, before = args.created_range()
    equals = {"assigned_to": caller.crm_user_id} if args.assigned_to_me else {}
    where = Where(caller.org_id, equals=equals, since=since, before=before, text=args.text)
    return page_result(fetch_page(Customer, where, args.page_size, args.cursor), caller)


class GetCustomerArgs(ToolArgs):
    customer: str | None = Field(
        None, description="The customer's number (e.g. 12) or id. A customer leaves it out to see their own profile."
    )


class CustomerProfile(ToolReply):
    customer: RecordView[Customer]


def get_customer(caller: Caller, args: GetCustomerArgs) -> CustomerProfile:
    if args.customer:
        customer = access.find_customer(caller, args.customer)
    elif caller.role is Role.CUSTOMER:
        found = get_record(Customer, access.own_customer_id(caller))
        if found is None:
            raise ToolFailed("your customer profile was not found; please contact support")
        customer = found
    else:
        raise ToolFailed("say which customer: their number or id (list_customers finds it by name)")
    access.ensure_customer_profile_visible(caller, customer)
    return CustomerProfile(customer=RecordView.of(customer, caller))


class CreateCustomerArgs(ToolArgs):
    name: str = Field(min_length=1, max_length=200, description="The customer's name.")
    email: str | None = Field(None, max_length=254, description="Their email address.")
    phone: str | None = Field(None, max_length=50, description="Their phone number.")
    company: str | None = Field(None, max_length=200, description="Their company.")
    assigned_to_email: str | None = Field(
        None, max_length=254, description="Email of the staff member to assign them to; by default, me."
    )


def plan_create_customer(caller: Caller, args: CreateCustomerArgs) -> Change:
    fields = {
        "name": args.name,
        "email": args.email.lower() if args.email else None,
        "phone": args.phone,
        "company": args.company,
        "assigned_to": access.assignee(caller, args.assigned_to_email),
    }
    shown = {"assigned_to": access.person(caller, fields["assigned_to"])}
    return changes.creation("customer", caller, "Add a customer", fields, shown=shown)


TOOLS: list[Tool[Any]] = [
    Tool(
        name="list_customers",
        description=(
            "List the organisation's customers, newest first, optionally only mine, by text (name, email, phone, "
            "company) or by when they were added. Returns a page; pass next_cursor back for more."
        ),
        args_model=ListCustomersArgs,
        roles=STAFF,
        run=list_customers,
    ),
    Tool(
        name="get_customer",
        description="Show one customer's profile (a customer sees their own profile with no arguments).",
        args_model=GetCustomerArgs,
        roles=EVERYONE,
        run=get_customer,
    ),
    Tool(
        name="create_customer",
        description="Add a new customer to the CRM.",
        args_model=CreateCustomerArgs,
        roles=frozenset({Role.VENDOR}),
        plan=plan_create_customer,
    ),
]
