"""Order and payment tools: list and get orders, list payments, record a payment."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.crm.backend import get_crm
from shared.crm.records import (
    OPEN_ORDER_STATUSES,
    Order,
    OrderStatus,
    Payment,
    Where,
)
from shared.crm.tools import access, changes
from shared.crm.tools.arguments import ListArgs, ToolArgs
from shared.crm.tools.caller import Caller, ToolFailed
from shared.crm.tools.changes import Change
from shared.crm.tools.results import RecordPage, RecordView, ToolReply, list_page, related_customers
from shared.crm.tools.tool import Tool
from shared.roles import EVERYONE, STAFF

ORDER_PAYMENTS_SHOWN = 20


def customer_scope(caller: Caller, customer: str | None, what: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(equals, one_of) limiting orders, payments or files to the customers the caller may see."""
    if customer:
        record = access.find_customer(caller, customer)
        access.ensure_customer_data_visible(caller, record.id, what)  # staff see every profile, not all its data
        return {"customer_id": record.id}, {}
    return access.visible_customers(caller), {}


class ListOrdersArgs(ListArgs):
    status: OrderStatus | None = Field(None, description="Only orders with this status.")
    open_only: bool = Field(False, description="Only orders not yet delivered or cancelled.")
    customer: str | None = Field(None, description="Staff: only orders of this customer (number or id).")


def list_orders(caller: Caller, args: ListOrdersArgs) -> RecordPage[Order]:
    equals, one_of = customer_scope(caller, args.customer, "orders")
    if args.status:
        equals["status"] = args.status
    elif args.open_only:
        one_of["status"] = list(OPEN_ORDER_STATUSES)
    return list_page(Order, caller, args, equals, one_of)


class GetOrderArgs(ToolArgs):
    order: str = Field(description="The order's number (e.g. 3 or '#3') or id.")


def find_visible_order(caller: Caller, reference: str) -> Order:
    return access.find(
        Order, caller, reference, lambda order: access.ensure_customer_data_visible(caller, order.customer_id, "orders")
    )


class OrderDetails(ToolReply):
    order: RecordView[Order]
    payments: list[RecordView[Payment]]
    paid: dict[str, float]
    """Sums per currency of the payments shown."""


def get_order(caller: Caller, args: GetOrderArgs) -> OrderDetails:
    order = find_visible_order(caller, args.order)
    of_order = Where(caller.org_id, equals={"order_id": order.id})
    payments = get_crm().list_records(caller, Payment, of_order, ORDER_PAYMENTS_SHOWN, None).items
    paid: dict[str, float] = {}
    for payment in payments:
        paid[payment.currency] = paid.get(payment.currency, 0.0) + payment.amount
    customers = related_customers(caller, [order])
    return OrderDetails(
        order=RecordView.of(order, caller, customers),
        payments=[RecordView.of(payment, caller) for payment in payments],
        paid=paid,
    )


class ListPaymentsArgs(ListArgs):
    order: str | None = Field(None, description="Only payments of this order (number or id).")
    customer: str | None = Field(
        None, description="Staff: only payments of this customer (number or id); ignored when an order is given."
    )


def list_payments(caller: Caller, args: ListPaymentsArgs) -> RecordPage[Payment]:
    if args.order:
        equals: dict[str, Any] = {"order_id": find_visible_order(caller, args.order).id}
        one_of: dict[str, list[str]] = {}
    else:
        equals, one_of = customer_scope(caller, args.customer, "payments")
    return list_page(Payment, caller, args, equals, one_of, with_orders=True)


class RecordPaymentArgs(ToolArgs):
    order: str = Field(description="The order paid (number, e.g. 3, or id).")
    amount: float = Field(gt=0, le=1e12, description="The amount received.")
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$", description="Defaults to the order's currency.")
    method: str | None = Field(None, max_length=50, description="How it was paid, e.g. card, bank transfer, cash.")


def plan_record_payment(caller: Caller, args: RecordPaymentArgs) -> Change:
    order = access.find(
        Order, caller, args.order, lambda order: access.ensure_may_record_payment(caller, order.customer_id)
    )
    currency = (args.currency or order.currency).upper()
    if currency != order.currency.upper():
        raise ToolFailed(f"{order.label} is in {order.currency}; record the payment in {order.currency}")
    fields: dict[str, Any] = {
        "order_id": order.id,
        "customer_id": order.customer_id,
        "amount": float(args.amount),
        "currency": currency,
        "method": args.method,
        "recorded_by": caller.crm_user_id,
    }
    shown = {"order_id": order.label, "amount": changes.money(fields["amount"], currency), "recorded_by": "you"}
    customer = related_customers(caller, [order]).get(order.customer_id or "")
    if customer is not None:
        shown["customer_id"] = customer.name or customer.label
    return changes.creation("payment", caller, f"Record a payment for {order.label}", fields, shown=shown)


TOOLS: list[Tool[Any]] = [
    Tool(
        name="list_orders",
        description=(
            "List orders, newest first: a customer sees their own, an employee those of customers assigned to "
            "them, the vendor all. Filter by status, open only, customer or period. Pass next_cursor for more."
        ),
        args_model=ListOrdersArgs,
        roles=EVERYONE,
        run=list_orders,
    ),
    Tool(
        name="get_order",
        description="Show one order (e.g. 'order #3') with its status, total and the payments received.",
        args_model=GetOrderArgs,
        roles=EVERYONE,
        run=get_order,
    ),
    Tool(
        name="list_payments",
        description=(
            "List payments, newest first, of one order or customer or a period (a customer sees their own, an "
            "employee those of customers assigned to them). Pass next_cursor for more."
        ),
        args_model=ListPaymentsArgs,
        roles=EVERYONE,
        run=list_payments,
    ),
    Tool(
        name="record_payment",
        description=(
            "Record a payment received for an order, e.g. 'record a payment of 5000 for order #3' (employees "
            "only for customers assigned to them)."
        ),
        args_model=RecordPaymentArgs,
        roles=STAFF,
        plan=plan_record_payment,
    ),
]
