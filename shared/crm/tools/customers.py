"""Customer tools: list, get, create."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.crm.backend import get_crm
from shared.crm.records import Customer
from shared.crm.tools import access, changes
from shared.crm.tools.arguments import ListArgs, NewContactArgs, ToolArgs
from shared.crm.tools.caller import Caller, ToolFailed
from shared.crm.tools.changes import Change
from shared.crm.tools.results import RecordPage, RecordView, ToolReply, list_page
from shared.crm.tools.tool import Tool
from shared.roles import EVERYONE, STAFF, Role


class ListCustomersArgs(ListArgs):
    assigned_to_me: bool = Field(False, description="Only customers assigned to me.")


def list_customers(caller: Caller, args: ListCustomersArgs) -> RecordPage[Customer]:
    equals = {"assigned_to": caller.crm_user_id} if args.assigned_to_me else {}
    return list_page(Customer, caller, args, equals)


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
        found = get_crm().get_record(caller, Customer, access.own_customer_id(caller))
        if found is None:
            raise ToolFailed("your customer profile was not found; please contact support")
        customer = found
    else:
        raise ToolFailed("say which customer: their number or id (list_customers finds it by name)")
    access.ensure_customer_profile_visible(caller, customer)
    return CustomerProfile(customer=RecordView.of(customer, caller))


def plan_create_customer(caller: Caller, args: NewContactArgs) -> Change:
    return changes.contact_creation("customer", caller, "Add a customer", args)


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
        args_model=NewContactArgs,
        roles=frozenset({Role.VENDOR}),
        plan=plan_create_customer,
    ),
]
