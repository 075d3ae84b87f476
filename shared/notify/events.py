"""The events the CRM sends to notify (docs/notify.md): one pydantic model per type, chosen by `type`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.store.db import is_document_id

MAX_EVENTS = 100


def _document_id(value: str) -> str:
    if not is_document_id(value):
        raise ValueError("not a valid record id ('.', '..' and '__…__' are not allowed)")
    return value


RecordId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/]+$"), AfterValidator(_document_id)
]
"""A CRM record id: a Firestore document id, so never a '/', '.', '..' or '__…__'."""
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=20)]
WebUrl = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s<>\"'\x00-\x1f\x7f]+$")]


class EventData(BaseModel):
    """The `data` of an event. Fields the bot does not use are ignored: CRMs send more than we need."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True, str_strip_whitespace=True)

    customer_id: RecordId | None = None
    """The customer the record belongs to; a customer recipient only gets events about themselves."""


class FileData(EventData):
    file_id: RecordId
    file_name: ShortText
    message: Note | None = None
    eta: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    comment: Note | None = None


class FileEtaData(FileData):
    eta: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class FileCommentData(FileData):
    comment: Note


class OrderData(EventData):
    order_id: RecordId
    order_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    total: Amount | None = None
    currency: Currency | None = None
    tracking_url: WebUrl | None = None


class PaymentData(EventData):
    order_number: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    amount: Amount
    currency: Currency
    order_id: RecordId | None = None


class MessageData(EventData):
    text: Annotated[str, StringConstraints(min_length=1, max_length=3500)]


class EventBase(BaseModel):
    """What every event has: the CRM's idempotency key, when it happened, and whom it is for."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True, str_strip_whitespace=True)

    group: ClassVar[str]
    """The notification group a user can mute (shared.store.links.NOTIFICATION_GROUPS)."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    occurred_at: AwareDatetime
    user_id: RecordId | None = None
    email: Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None

    @field_validator("occurred_at")
    @classmethod
    def _representable_in_utc(cls, value: dt.datetime) -> dt.datetime:
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError("occurred_at must fall between years 1 and 9999 in UTC") from None

    @field_validator("email")
    @classmethod
    def _lower_case_email(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @model_validator(mode="after")
    def _one_recipient(self) -> EventBase:
        if (self.user_id is None) == (self.email is None):
            raise PydanticCustomError("recipient", "give the recipient as exactly one of 'user_id' or 'email'")
        return self

    @property
    def recipient(self) -> dict[str, str]:
        """{'user_id': ...} or {'email': ...}, as the CRM named the recipient."""
        return {"user_id": self.user_id} if self.user_id is not None else {"email": str(self.email)}

    @property
    def record_path(self) -> tuple[str, str] | None:
        """(collection, document id) of the CRM record this event is about, if it names one."""
        return None


class FileStatusEvent(EventBase):
    group: ClassVar[str] = "files"
    type: Literal["file.received", "file.processing", "file.ready"]
    data: FileData

    @property
    def record_path(self) -> tuple[str, str] | None:
        return ("files", self.data.file_id)


class FileEtaEvent(FileStatusEvent):
    type: Literal["file.eta_set"]  # type: ignore[assignment]
    data: FileEtaData


class FileCommentEvent(FileStatusEvent):
    type: Literal["file.comment_added"]  # type: ignore[assignment]
    data: FileCommentData


class OrderEvent(EventBase):
    group: ClassVar[str] = "orders"
    type: Literal["order.confirmed", "order.paid", "order.shipped", "order.delivered"]
    data: OrderData

    @property
    def record_path(self) -> tuple[str, str] | None:
        return ("orders", self.data.order_id)


class PaymentEvent(EventBase):
    group: ClassVar[str] = "payments"
    type: Literal["payment.received"]
    data: PaymentData

    @property
    def record_path(self) -> tuple[str, str] | None:
        return ("orders", self.data.order_id) if self.data.order_id else None


class StaffMessageEvent(EventBase):
    group: ClassVar[str] = "messages"
    type: Literal["message"]
    data: MessageData


Event = Annotated[
    FileStatusEvent | FileEtaEvent | FileCommentEvent | OrderEvent | PaymentEvent | StaffMessageEvent,
    Field(discriminator="type"),
]


class UnknownEvent(EventBase):
    """An event of a type this bot does not know (a newer CRM's): its envelope is checked, its data is not.

    Notify answers it `failed` with reason `unknown_type` and does not record it (docs/notify.md).
    """

    type: Annotated[str, Strict(), StringConstraints(min_length=1, max_length=100)]
    data: dict[str, Any]


ReceivedEvent = Event | UnknownEvent
"""One item of a request body, as parse_body reads it."""
EVENT_TYPES = (
    "file.received",
    "file.processing",
    "file.ready",
    "file.eta_set",
    "file.comment_added",
    "order.confirmed",
    "order.paid",
    "order.shipped",
    "order.delivered",
    "payment.received",
    "message",
)
_event_adapter: TypeAdapter[Event] = TypeAdapter(Event)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request body: the field (a path like `events[2].data.file_name`) and why."""

    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class MalformedBodyError(ValueError):
    """The body is not one event or {"events": [...]} of valid events; `problems` says where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self.problems[0]))

    @property
    def field(self) -> str | None:
        return self.problems[0].field


def parse_event(payload: Any) -> Event:
    """Validate one event (a decoded JSON object); MalformedBodyError names the fields at fault."""
    try:
        return _event_adapter.validate_python(payload)
    except ValidationError as error:
        raise MalformedBodyError(_problems(error, payload, prefix="", tagged=True)) from None


def parse_body(raw: bytes) -> list[ReceivedEvent]:
    """The events of a request body: one event object, or {"events": [...]} with 1 to MAX_EVENTS of them.

    An event whose `type` is not one of EVENT_TYPES is an UnknownEvent if its envelope is valid.
    """
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, an integer of 4300+ digits, absurd nesting
        raise MalformedBodyError([Problem(None, "body is not JSON")]) from None
    if not isinstance(payload, dict):
        raise MalformedBodyError([Problem(None, 'body must be a JSON object: one event, or {"events": [...]}')])
    if "events" not in payload:
        return [_received_event(payload, prefix="")]
    items = payload["events"]
    if not isinstance(items, list):
        raise MalformedBodyError([Problem("events", "must be a list of events")])
    if not 1 <= len(items) <= MAX_EVENTS:
        raise MalformedBodyError([Problem("events", f"holds {len(items)} events; send 1 to {MAX_EVENTS}")])
    events: list[ReceivedEvent] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        try:
            events.append(_received_event(item, prefix=f"events[{index}]"))
        except MalformedBodyError as error:
            problems.extend(error.problems)
    if problems:
        raise MalformedBodyError(problems)
    return events


def _received_event(payload: Any, prefix: str) -> ReceivedEvent:
    """A known event, or an UnknownEvent when `type` is given but is none of EVENT_TYPES (then it must be a string)."""
    if not isinstance(payload, dict) or "type" not in payload or payload["type"] in EVENT_TYPES:
        try:
            return _event_adapter.validate_python(payload)
        except ValidationError as error:
            raise MalformedBodyError(_problems(error, payload, prefix, tagged=True)) from None
    try:
        return UnknownEvent.model_validate(payload)
    except ValidationError as error:
        raise MalformedBodyError(_problems(error, payload, prefix, tagged=False)) from None


def _problems(error: ValidationError, payload: Any, prefix: str, *, tagged: bool) -> list[Problem]:
    """`tagged`: the error is the discriminated union's, whose locations start with the event's type."""
    tag = payload.get("type") if isinstance(payload, dict) else None
    problems = []
    for detail in error.errors(include_url=False):
        loc = list(detail["loc"])
        if tagged and loc and isinstance(tag, str) and loc[0] == tag:
            loc = loc[1:]
        kind = detail["type"]
        message = str(detail["msg"])
        if kind == "union_tag_invalid":
            loc, message = ["type"], f"unknown event type {tag!r}; expected one of: {', '.join(EVENT_TYPES)}"
        elif kind == "union_tag_not_found":
            loc, message = ["type"], f"Field required; one of: {', '.join(EVENT_TYPES)}"
        elif kind == "recipient":
            loc = ["user_id"]
        problems.append(Problem(_path(prefix, loc), message))
    return problems


def _path(prefix: str, loc: Sequence[int | str]) -> str | None:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or None
