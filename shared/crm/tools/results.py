"""What tools return: records as plain JSON for the model and the commands, shaped for the caller's role."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from shared.crm.records import CrmRecord, Customer, InvalidCursor, Order, Page, Where, get_records, list_records
from shared.crm.tools.caller import Caller, ToolFailed, ToolResult
from shared.roles import Role
from shared.store.errors import MissingIndex
from shared.telegram.formatting import escape_html

log = logging.getLogger(__name__)

R = TypeVar("R", bound=CrmRecord)

# Who-did-what ids a customer has no use for.
_STAFF_ONLY_FIELDS = ("assigned_to", "recorded_by", "reported_by")


def fetch_page(model: type[R], where: Where, page_size: int, cursor: str | None) -> Page[R]:
    """list_records, with a bad cursor or a missing index reported to the model instead of raised."""
    try:
        return list_records(model, where, page_size, cursor)
    except InvalidCursor:
        raise ToolFailed("that cursor is not valid: ask again without a cursor") from None
    except MissingIndex as error:
        raise missing_index(model.collection, error) from None


def missing_index(collection: str, error: MissingIndex) -> ToolFailed:
    """A query Firestore has no composite index for (see infra/firestore.indexes.json): logged, told plainly."""
    log.error("Firestore index missing for a query on %s: %s", collection, error.message)
    return ToolFailed(f"this combination of filters on {collection} is not available; try fewer filters")


def record_view(
    record: CrmRecord,
    caller: Caller,
    customers: Mapping[str, Customer] | None = None,
    orders: Mapping[str, Order] | None = None,
) -> dict[str, Any]:
    """A record as JSON: its short reference, its fields, and the names of the records it points to."""
    data: dict[str, Any] = {"ref": record.label}
    data.update(record.model_dump(mode="json", exclude={"org_id"}, exclude_none=True))
    if caller.role is Role.CUSTOMER:
        for name in _STAFF_ONLY_FIELDS:
            data.pop(name, None)
    elif "assigned_to" in type(record).model_fields:
        data["assigned_to_me"] = getattr(record, "assigned_to", None) == caller.crm_user_id
    customer = (customers or {}).get(getattr(record, "customer_id", None) or "")
    if customer is not None:
        data["customer_name"] = customer.name
    order = (orders or {}).get(getattr(record, "order_id", None) or "")
    if order is not None:
        data["order_ref"] = order.label
    return data


def related_customers(caller: Caller, records: Iterable[CrmRecord]) -> dict[str, Customer]:
    """The customers these records point to (same organisation only), in one read."""
    ids = [str(getattr(record, "customer_id", "") or "") for record in records]
    found = get_records(Customer, [customer_id for customer_id in ids if customer_id])
    return {key: customer for key, customer in found.items() if customer.org_id == caller.org_id}


def related_orders(caller: Caller, records: Iterable[CrmRecord]) -> dict[str, Order]:
    """The orders these records (payments) point to, same organisation only."""
    ids = [str(getattr(record, "order_id", "") or "") for record in records]
    found = get_records(Order, [order_id for order_id in ids if order_id])
    return {key: order for key, order in found.items() if order.org_id == caller.org_id}


def page_result(page: Page[R], caller: Caller, *, with_orders: bool = False) -> ToolResult:
    """A page as a tool result: items, and next_cursor when there is more."""
    customers = related_customers(caller, page.items) if caller.role is not Role.CUSTOMER else {}
    orders = related_orders(caller, page.items) if with_orders else {}
    result: ToolResult = {
        "items": [record_view(record, caller, customers, orders) for record in page.items],
        "count": len(page.items),
        "more": page.next_cursor is not None,
        "next_cursor": page.next_cursor,
    }
    if not page.scan_complete:
        result["note"] = (
            "Only the most recent records were searched for the text; pass next_cursor to search older ones."
        )
    return result


def quoted(text: str | None) -> str:
    """' "text"' escaped for a preview, or nothing."""
    return f" '{escape_html(text)}'" if text else ""


def money(amount: float, currency: str) -> str:
    """5000.0, 'EUR' → '5,000.00 EUR'."""
    return f"{amount:,.2f} {currency}"
