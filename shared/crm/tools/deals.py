"""Deal tools: list, get, create, change stage."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.crm.records import CLOSED_DEAL_STAGES, DEFAULT_CURRENCY, OPEN_DEAL_STAGES, Deal, DealStage
from shared.crm.tools import access, changes
from shared.crm.tools.arguments import ListArgs, ToolArgs
from shared.crm.tools.caller import Caller
from shared.crm.tools.changes import Change
from shared.crm.tools.results import RecordPage, RecordView, ToolReply, list_page, related_customers
from shared.crm.tools.tool import Tool
from shared.roles import STAFF

CURRENCY_PATTERN = r"^[A-Za-z]{3}$"


class ListDealsArgs(ListArgs):
    stage: DealStage | None = Field(None, description="Only deals in this stage.")
    open_only: bool = Field(False, description="Only open deals (not closed_won or closed_lost).")
    assigned_to_me: bool = Field(False, description="Only deals assigned to me.")
    customer: str | None = Field(None, description="Only deals of this customer (number or id).")


def list_deals(caller: Caller, args: ListDealsArgs) -> RecordPage[Deal]:
    equals: dict[str, Any] = {"assigned_to": caller.crm_user_id} if args.assigned_to_me else {}
    one_of: dict[str, tuple[str, ...]] = {}
    if args.customer:
        customer = access.find_customer(caller, args.customer)
        equals["customer_id"] = customer.id
    if args.stage:
        equals["stage"] = args.stage
    elif args.open_only:
        one_of["stage"] = OPEN_DEAL_STAGES
    return list_page(Deal, caller, args, equals, one_of)


class GetDealArgs(ToolArgs):
    deal: str = Field(description="The deal's number (e.g. 5) or id.")


class DealDetails(ToolReply):
    deal: RecordView[Deal]


def get_deal(caller: Caller, args: GetDealArgs) -> DealDetails:
    deal = access.find(Deal, caller, args.deal)
    return DealDetails(deal=RecordView.of(deal, caller, related_customers(caller, [deal])))


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


def plan_create_deal(caller: Caller, args: CreateDealArgs) -> Change:
    customer = access.find_customer(caller, args.customer) if args.customer else None
    currency = (args.currency or DEFAULT_CURRENCY).upper()
    fields: dict[str, Any] = {
        "title": args.title,
        "value": float(args.value),
        "currency": currency,
        "stage": args.stage,
        "customer_id": customer.id if customer else None,
        "assigned_to": access.assignee(caller, args.assigned_to_email),
    }
    shown = {
        "value": changes.money(fields["value"], currency),
        "assigned_to": access.person(caller, fields["assigned_to"]),
    }
    if customer is not None:
        shown["customer_id"] = customer.name or customer.label
    stamped = ["closed_at"] if args.stage in CLOSED_DEAL_STAGES else []
    return changes.creation("deal", caller, "Create a deal", fields, stamped=stamped, shown=shown)


class UpdateDealStageArgs(ToolArgs):
    deal: str = Field(description="The deal's number (e.g. 5) or id.")
    stage: DealStage = Field(description="The new stage.")


def plan_update_deal_stage(caller: Caller, args: UpdateDealStageArgs) -> Change:
    deal = access.find(Deal, caller, args.deal)
    access.ensure_may_change(caller, deal)
    closing = args.stage in CLOSED_DEAL_STAGES and deal.stage not in CLOSED_DEAL_STAGES
    reopening = args.stage not in CLOSED_DEAL_STAGES and deal.closed_at is not None
    return changes.update(
        deal,
        f"Update {changes.named(deal)}",
        {"stage": args.stage},
        stamped=["closed_at"] if closing else [],
        removed=["closed_at"] if reopening else [],
    )


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
        plan=plan_create_deal,
    ),
    Tool(
        name="update_deal_stage",
        description=(
            "Move a deal to another stage, e.g. 'update deal 5 to negotiation' (employees only for deals "
            "assigned to them)."
        ),
        args_model=UpdateDealStageArgs,
        roles=STAFF,
        plan=plan_update_deal_stage,
    ),
]
