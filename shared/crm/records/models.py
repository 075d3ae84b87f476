"""The CRM's records as the bot reads them (docs/crm-schema.md): one pydantic model per collection."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, field_validator

LeadStatus = Literal["new", "contacted", "qualified", "lost", "converted"]
DealStage = Literal["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"]
IssueStatus = Literal["open", "in_progress", "resolved", "closed"]
IssuePriority = Literal["low", "medium", "high", "urgent"]
OrderStatus = Literal["pending", "confirmed", "paid", "shipped", "delivered", "cancelled"]
FileStatus = Literal["received", "processing", "ready"]

LEAD_STATUSES: tuple[str, ...] = get_args(LeadStatus)
DEAL_STAGES: tuple[str, ...] = get_args(DealStage)
ISSUE_STATUSES: tuple[str, ...] = get_args(IssueStatus)
ORDER_STATUSES: tuple[str, ...] = get_args(OrderStatus)
FILE_STATUSES: tuple[str, ...] = get_args(FileStatus)

# What "open" means for each kind of record (the /deals and /leads commands, the open_only filters).
OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")
OPEN_DEAL_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
CLOSED_DEAL_STAGES = ("closed_won", "closed_lost")
OPEN_ISSUE_STATUSES = ("open", "in_progress")
OPEN_ORDER_STATUSES = ("pending", "confirmed", "paid", "shipped")

DEFAULT_CURRENCY = "USD"


class CrmRecord(BaseModel):
    """Fields every record has. Unknown fields are ignored; statuses are kept as written by the CRM."""

    model_config = ConfigDict(extra="ignore")

    collection: ClassVar[str]
    noun: ClassVar[str]
    # Fields the free-text filter looks in (case-insensitive substring).
    text_fields: ClassVar[tuple[str, ...]] = ()

    id: str
    org_id: str
    number: int | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @field_validator("created_at", "updated_at", mode="after")
    @classmethod
    def _utc_when_naive(cls, value: Any) -> Any:
        """A time a CRM sent without an offset is taken as UTC, so it compares with the bot's (aware) times."""
        return value.replace(tzinfo=dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo is None else value

    @property
    def label(self) -> str:
        """How people refer to it: 'deal 5', or 'deal <id>' for records the CRM wrote without a number."""
        return f"{self.noun} {self.number}" if self.number is not None else f"{self.noun} {self.id}"

    @property
    def caption(self) -> str:
        """Its name or title, for confirmations and lists."""
        return ""

    def matches(self, text: str) -> bool:
        """True when `text` occurs (case-insensitively) in one of its text fields."""
        needle = text.casefold()
        return any(needle in str(getattr(self, name) or "").casefold() for name in self.text_fields)


class Contact(CrmRecord):
    """A person the organisation deals with, assigned to one of its staff: a customer, or a lead."""

    text_fields: ClassVar[tuple[str, ...]] = ("name", "email", "phone", "company")

    name: str = ""
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    assigned_to: str | None = None

    @property
    def caption(self) -> str:
        return self.name


class Customer(Contact):
    collection: ClassVar[str] = "customers"
    noun: ClassVar[str] = "customer"


class Lead(Contact):
    collection: ClassVar[str] = "leads"
    noun: ClassVar[str] = "lead"
    text_fields: ClassVar[tuple[str, ...]] = (*Contact.text_fields, "source")

    source: str | None = None
    status: str = "new"


class Deal(CrmRecord):
    collection: ClassVar[str] = "deals"
    noun: ClassVar[str] = "deal"
    text_fields: ClassVar[tuple[str, ...]] = ("title",)

    title: str = ""
    value: float = 0.0
    currency: str = DEFAULT_CURRENCY
    stage: str = "prospecting"
    customer_id: str | None = None
    assigned_to: str | None = None
    closed_at: dt.datetime | None = None

    @property
    def caption(self) -> str:
        return self.title


class Issue(CrmRecord):
    collection: ClassVar[str] = "issues"
    noun: ClassVar[str] = "issue"
    text_fields: ClassVar[tuple[str, ...]] = ("title", "description")

    title: str = ""
    description: str = ""
    priority: str = "medium"
    status: str = "open"
    customer_id: str | None = None
    assigned_to: str | None = None
    reported_by: str | None = None

    @property
    def caption(self) -> str:
        return self.title


class Order(CrmRecord):
    collection: ClassVar[str] = "orders"
    noun: ClassVar[str] = "order"
    text_fields: ClassVar[tuple[str, ...]] = ("status",)

    customer_id: str | None = None
    status: str = "pending"
    total: float = 0.0
    currency: str = DEFAULT_CURRENCY

    @property
    def label(self) -> str:
        return f"order #{self.number}" if self.number is not None else f"order {self.id}"


class Payment(CrmRecord):
    collection: ClassVar[str] = "payments"
    noun: ClassVar[str] = "payment"
    text_fields: ClassVar[tuple[str, ...]] = ("method",)

    order_id: str | None = None
    customer_id: str | None = None
    amount: float = 0.0
    currency: str = DEFAULT_CURRENCY
    method: str | None = None
    recorded_by: str | None = None


class CrmFile(CrmRecord):
    collection: ClassVar[str] = "files"
    noun: ClassVar[str] = "file"
    text_fields: ClassVar[tuple[str, ...]] = ("name", "admin_comment")

    customer_id: str | None = None
    name: str = ""
    status: str = "received"
    eta: dt.datetime | str | None = None
    """A timestamp (docs/crm-schema.md); a CRM that writes text gets its ISO times read as times, other text kept."""
    admin_comment: str | None = None

    @field_validator("eta", mode="before")
    @classmethod
    def _eta_as_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                return value
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
        return value

    @property
    def caption(self) -> str:
        return self.name


RECORD_TYPES: dict[str, type[CrmRecord]] = {
    model.noun: model for model in (Customer, Lead, Deal, Issue, Order, Payment, CrmFile)
}
"""Record models by noun ('deal' → Deal)."""
