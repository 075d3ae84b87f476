"""What tools answer: pydantic models that the model's JSON and the slash commands' messages are both made from,
the records in them shaped for the caller's role."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    computed_field,
    model_serializer,
)

from shared.crm.backend import get_crm
from shared.crm.records import CrmRecord, Customer, InvalidCursor, Order, Page, Where
from shared.crm.tools.arguments import ListArgs
from shared.crm.tools.caller import Caller, ToolFailed
from shared.roles import Role
from shared.store.errors import MissingIndex

log = logging.getLogger(__name__)

R = TypeVar("R", bound=CrmRecord)

ToolResult = dict[str, Any]
"""A call's answer as the JSON the model reads."""

NOT_PERMITTED = "not permitted"

# Who-did-what ids a customer has no use for.
_STAFF_ONLY_FIELDS = ("assigned_to", "recorded_by", "reported_by")


class ToolAnswer(BaseModel):
    """How a tool call ended, as a model."""

    model_config = ConfigDict(frozen=True)

    def for_model(self) -> ToolResult:
        """The answer as the model reads it: JSON, fields that are None left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ToolReply(ToolAnswer):
    """A call that did its work; each tool answers its own kind."""

    ok: Literal[True] = True


class ToolError(ToolAnswer):
    """A call refused, given invalid arguments, or failed; `error` says what, `detail` why. Safe to show."""

    ok: Literal[False] = False
    error: str
    detail: str | None = None
    retryable: bool | None = None
    """True for a fault on our side that the same call may get past in a moment."""

    @classmethod
    def not_permitted(cls, detail: str) -> ToolError:
        return cls(error=NOT_PERMITTED, detail=detail)

    @property
    def refused(self) -> bool:
        return self.error == NOT_PERMITTED

    @property
    def reason(self) -> str:
        return self.detail or self.error


ToolOutcome = ToolReply | ToolError


class RecordView(BaseModel, Generic[R]):
    """A record as its caller may see it (a customer's without the staff's who-did-what), with the names of the
    records it points to. Its JSON is the record's fields, flat, with its short reference ('ref')."""

    model_config = ConfigDict(frozen=True)

    record: R = Field(exclude=True)
    assigned_to_me: bool | None = None
    customer_name: str | None = None
    order_ref: str | None = None

    @classmethod
    def of(
        cls,
        record: R,
        caller: Caller,
        customers: Mapping[str, Customer] | None = None,
        orders: Mapping[str, Order] | None = None,
    ) -> RecordView[R]:
        assigned_to_me = None
        if caller.role is Role.CUSTOMER:
            hidden = {name: None for name in _STAFF_ONLY_FIELDS if name in type(record).model_fields}
            record = record.model_copy(update=hidden)
        elif "assigned_to" in type(record).model_fields:
            assigned_to_me = getattr(record, "assigned_to", None) == caller.crm_user_id
        customer = (customers or {}).get(getattr(record, "customer_id", None) or "")
        order = (orders or {}).get(getattr(record, "order_id", None) or "")
        return cls(
            record=record,
            assigned_to_me=assigned_to_me,
            customer_name=customer.name if customer is not None else None,
            order_ref=order.label if order is not None else None,
        )

    @property
    def ref(self) -> str:
        return self.record.label

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        fields = self.record.model_dump(mode=info.mode, exclude={"org_id"}, exclude_none=info.exclude_none)
        names: dict[str, Any] = handler(self)
        return {"ref": self.ref, **fields, **names}


class NullsShown(BaseModel):
    """A model whose required fields reach the model as null when None ("nothing to compare with", "no next page")
    instead of being left out with the optional ones."""

    @model_serializer(mode="wrap")
    def _with_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name, field in type(self).model_fields.items():
            if field.is_required():
                data.setdefault(name, None)
        return data


class RecordPage(ToolReply, NullsShown, Generic[R]):
    """One page of a list, newest first; `next_cursor` asks for the next one (null on the last page says so)."""

    items: list[RecordView[R]]
    next_cursor: str | None
    note: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def count(self) -> int:
        return len(self.items)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def more(self) -> bool:
        return self.next_cursor is not None


class RecordReference(BaseModel):
    """A record that is gone: what it was."""

    kind: str
    id: str


class Written(ToolReply):
    """What applying a change answers."""


class Created(Written):
    created: RecordView[CrmRecord]


class Updated(Written):
    updated: RecordView[CrmRecord]
    previous: dict[str, Any]
    """The values the change replaced."""


class Deleted(Written):
    deleted: RecordView[CrmRecord] | RecordReference
    note: str | None = None


class Unchanged(Written):
    """A confirmed update the record already holds (it ran before, and only its answer was lost)."""

    unchanged: Literal[True] = True
    note: str


INVALID_CURSOR = "that cursor is not valid: ask again without a cursor"


def fetch_page(model: type[R], caller: Caller, where: Where, page_size: int, cursor: str | None) -> Page[R]:
    """A page of the CRM's list, with a bad cursor or a missing index reported to the model instead of raised."""
    try:
        return get_crm().list_records(caller, model, where, page_size, cursor)
    except InvalidCursor:
        raise ToolFailed(INVALID_CURSOR) from None
    except MissingIndex as error:
        raise missing_index(model.collection, error) from None


def missing_index(collection: str, error: MissingIndex) -> ToolFailed:
    """A query Firestore has no composite index for (see infra/firestore.indexes.json): logged, told plainly."""
    log.error("Firestore index missing for a query on %s: %s", collection, error.message)
    return ToolFailed(f"this combination of filters on {collection} is not available; try fewer filters")


def related_customers(caller: Caller, records: Iterable[CrmRecord]) -> dict[str, Customer]:
    """The customers these records point to (same organisation only), in one read."""
    return _related(Customer, "customer_id", caller, records)


def related_orders(caller: Caller, records: Iterable[CrmRecord]) -> dict[str, Order]:
    """The orders these records (payments) point to, same organisation only."""
    return _related(Order, "order_id", caller, records)


def _related(model: type[R], field: str, caller: Caller, records: Iterable[CrmRecord]) -> dict[str, R]:
    ids = [str(getattr(record, field, "") or "") for record in records]
    found = get_crm().get_records(caller, model, [record_id for record_id in ids if record_id])
    return {key: record for key, record in found.items() if record.org_id == caller.org_id}


def list_page(
    model: type[R],
    caller: Caller,
    args: ListArgs,
    equals: dict[str, Any] | None = None,
    one_of: Mapping[str, Sequence[str]] | None = None,
    *,
    with_orders: bool = False,
) -> RecordPage[R]:
    """One page of the caller's organisation's records that match `args` (when, text, cursor) and the filters."""
    since, before = args.created_range()
    where = Where(caller.org_id, equals=equals or {}, one_of=one_of or {}, since=since, before=before, text=args.text)
    return page_result(fetch_page(model, caller, where, args.page_size, args.cursor), caller, with_orders=with_orders)


def page_result(page: Page[R], caller: Caller, *, with_orders: bool = False) -> RecordPage[R]:
    """A page as a tool's answer, with the names of the customers (and orders) its records point to."""
    customers = related_customers(caller, page.items) if caller.role is not Role.CUSTOMER else {}
    orders = related_orders(caller, page.items) if with_orders else {}
    note = None
    if not page.scan_complete:
        note = "Only the most recent records were searched for the text; pass next_cursor to search older ones."
    return RecordPage(
        items=[RecordView.of(record, caller, customers, orders) for record in page.items],
        next_cursor=page.next_cursor,
        note=note,
    )
