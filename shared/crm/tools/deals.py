"""Deal tools: list, get, create, change stage."""

from __future__ import annotations

from typing import Any

from google.cloud import firestore
from pydantic import Field

from shared import clock
from shared.crm.records import (
    CLOSED_DEAL_STAGES,
    DEFAULT_CURRENCY,
    OPEN_DEAL_STAGES,
    Customer,
    Deal,
    DealStage,
    Where,
    create_record,
)
from shared.crm.tools import access
from shared.crm.tools.arguments import ListArgs, ToolArgs
from shared.crm.tools.registry import Caller, Tool, ToolResult
from shared.crm.tools.results import fetch_page, money, page_result, quoted, record_view, related_customers
from shared.roles import STAFF
from shared.telegram.formatting import escape_html

CURRENCY_PATTERN = r"^[A-Za-z]{3}$"


class ListDealsArgs(ListArgs):
    stage: DealStage | None = Field(None, description="Only deals in this stage.")
    open_only: bool = Field(False, description="Only open deals (not closed_won or closed_lost).")
    assigned_to_me: bool = Field(False, description="Only deals assigned to me.")
    customer: str | None = Field(None, description="Only deals of this customer (number or id).")


def list_deals(caller: Caller, args: ListDealsArgs) -> ToolResult:
    since, before = args.created_range()
    equals: dict[str, Any] = {"assigned_to": caller.crm_user_id} if args.assigned_to_me else {}
    one_of: dict[str, tuple[str, ...]] = {}
    if args.customer:
        customer = access.find_customer(caller, args.customer)
        equals["customer_id"] = customer.id
    if args.stage:
        equals["stage"] = args.stage
    elif args.open_only:
        one_of["stage"] = OPEN_DEAL_STAGES
    where = Where(caller.org_id, equals=equals, one_of=one_of, since=since, before=before, text=args.text)
    return page_result(fetch_page(Deal, where, args.page_size, args.cursor), caller)


class GetDealArgs(ToolArgs):
    deal: str = Field(description="The deal's number (e.g. 5) or id.")


def get_deal(caller: Caller, args: GetDealArgs) -> ToolResult:
    deal = access.find(Deal, caller, args.deal)
    return {"deal": record_view(deal, caller, related_customers(caller, [deal]))}


class CreateDealArgs(ToolArgs):
    title: str = Field(min_length=1, max_length=200, description="What the deal is, e.g. 'ACME renewal'.")
    value: float = Field(0, ge=0, description="The deal's value.")
    currency: str | None = Field(
        None, pattern=CURRENCY_PATTERN, description=f"ISO currency code, e.g. EUR; default {DEFAULT_CURRENCY}."
    )
    stage: DealStage = Field("prospecting", description="The starting stage.")
    customer: str | None = Field(None, description="The customer (number or id) the deal is with.")
    assigned_to_email: str | None = Field(
        None, max_length=254, description="Email of the staff member to assign the deal to; by default, me."
    )


def _new_deal(caller: Caller, args: CreateDealArgs) -> tuple[dict[str, Any], Customer | None]:
    customer = access.find_customer(caller, args.customer) if args.customer else None
    fields: dict[str, Any] = {
        "title": args.title,
        "value": float(args.value),
        "currency": (args.currency or DEFAULT_CURRENCY).upper(),
        "stage": args.stage,
        "customer_id": customer.id if customer else None,
        "assigned_to": access.assignee(caller, args.assigned_to_email),
    }
    if args.stage in CLOSED_DEAL_STAGES:
        fields["closed_at"] = clock.now()
    return fields, customer


def preview_create_deal(caller: Caller, args: CreateDealArgs) -> str:
    fields, customer = _new_deal(caller, args)
    with_customer = f" with {escape_html(customer.name or customer.label)}" if customer else ""
    owner = escape_html(access.assigned_phrase(caller, fields["assigned_to"]))
    amount = escape_html(money(fields["value"], fields["currency"]))
    return f"Create deal{quoted(args.title)}{with_customer} worth {amount} ({escape_html(args.stage)}){owner}?"


def create_deal(caller: Caller, args: CreateDealArgs) -> ToolResult:
    fields, customer = _new_deal(caller, args)
    deal = create_record(Deal, caller.org_id, fields)
    return {"created": record_view(deal, caller, {customer.id: customer} if customer else None)}


class UpdateDealStageArgs(ToolArgs):
    deal: str = Field(description="The deal's number (e.g. 5) or id.")
    stage: DealStage = Field(description="The new stage.")


def preview_update_deal_stage(caller: Caller, args: UpdateDealStageArgs) -> str:
    deal = access.find(Deal, caller, args.deal)
    access.ensure_may_change(caller, deal)
    return (
        f"Update {escape_html(deal.label)}{quoted(deal.title)} from {escape_html(deal.stage)} "
        f"to {escape_html(args.stage)}?"
    )


def update_deal_stage(caller: Caller, args: UpdateDealStageArgs) -> ToolResult:
    deal = access.find(Deal, caller, args.deal)
    changes: dict[str, Any] = {"stage": args.stage}
    if args.stage in CLOSED_DEAL_STAGES and deal.stage not in CLOSED_DEAL_STAGES:
        changes["closed_at"] = clock.now()
    elif args.stage not in CLOSED_DEAL_STAGES and deal.closed_at is not None:
        changes["closed_at"] = firestore.DELETE_FIELD
    updated = access.apply_change(Deal, caller, deal, changes)
    return {"updated": record_view(updated, caller), "previous_stage": deal.stage}


TOOLS: list[Tool[Any]] = [
    Tool(
        name="list_deals",
        description=(
            "List the organisation's deals, newest first, filtered by stage, open only, assigned to me, customer, "
            "title text or when they were created. Returns a page; pass next_cursor for more."
        ),
        args_model=ListDealsArgs,
        roles=STAFF,
        run=list_deals,
    ),
    Tool(
        name="get_deal",
        description="Show one deal by its number (deal 5) or id.",
        args_model=GetDealArgs,
        roles=STAFF,
        run=get_deal,
    ),
    Tool(
        name="create_deal",
        description="Create a deal, assigned to me unless the vendor names someone else.",
        args_model=CreateDealArgs,
        roles=STAFF,
        run=create_deal,
        changes_data=True,
        preview=preview_create_deal,
    ),
    Tool(
        name="update_deal_stage",
        description=(
            "Move a deal to another stage, e.g. 'update deal 5 to negotiation' (employees only for deals "
            "assigned to them)."
        ),
        args_model=UpdateDealStageArgs,
        roles=STAFF,
        run=update_deal_stage,
        changes_data=True,
        preview=preview_update_deal_stage,
    ),
]
