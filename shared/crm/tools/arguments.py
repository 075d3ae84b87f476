"""Argument models shared by the tools, with JSON schemas kept simple for Gemini (no refs, no null unions)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared import clock
from shared.crm.periods import PeriodName, TimeRange, bot_zone, date_range, named_range
from shared.crm.records import MAX_PAGE_SIZE

DEFAULT_PAGE_SIZE = 10
EARLIEST_DAY = dt.date(1970, 1, 1)
LATEST_DAY = dt.date(2100, 12, 31)
DAY_FORMAT = "YYYY-MM-DD"  # the bounds are told on an error: every declaration is sent with every request

Day = Annotated[dt.date, Field(ge=EARLIEST_DAY, le=LATEST_DAY)]
"""A day argument: bounded, so the ranges built from it (a day after, a period before) stay valid dates."""

# "5", "#5", "deal 5", "Order #3", "no. 7": a sequence number; anything else is a document id.
_PAGING_LAST = ("page_size", "cursor")  # filters first in the schema, paging last
_NUMBER_REFERENCE = re.compile(r"^(?:[^\W\d_]+(?:\.\s*|\s+))*#?\s*(\d{1,12})$")


def _simplify_schema(schema: dict[str, Any]) -> None:
    """Turn `anyOf: [X, null]` into X and drop titles and null defaults: what Gemini reads best."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        options = prop.get("anyOf")
        if options and any(option.get("type") == "null" for option in options):
            rest = [option for option in options if option.get("type") != "null"]
            if len(rest) == 1:
                prop.pop("anyOf")
                prop.update({key: value for key, value in rest[0].items() if key not in prop})
        if prop.get("default", ...) is None:
            prop.pop("default")
    properties = schema.get("properties", {})
    for name in _PAGING_LAST:
        if name in properties:
            properties[name] = properties.pop(name)


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown arguments (an org_id, a user id…) are ignored."""

    model_config = ConfigDict(
        extra="ignore",
        coerce_numbers_to_str=True,
        str_strip_whitespace=True,
        json_schema_extra=_simplify_schema,
    )


class PageArgs(ToolArgs):
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="How many records to return.")
    cursor: str | None = Field(
        None,
        description="The next_cursor of a previous result, to get the next page; repeat the same filters.",
        max_length=200,
    )


class ListArgs(PageArgs):
    text: str | None = Field(
        None, description="Only records whose name, title, email or company contains this text.", max_length=100
    )
    period: PeriodName | None = Field(None, description="Only records created in this period.")
    date_from: Day | None = Field(None, description=f"Only records created on or after this day ({DAY_FORMAT}).")
    date_to: Day | None = Field(None, description=f"Only records created on or before this day ({DAY_FORMAT}).")

    def created_range(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(since, before) of the period filters, in UTC."""
        chosen = period_of(self.period, self.date_from, self.date_to)
        return (chosen.start, chosen.end) if chosen else (None, None)


class NewContactArgs(ToolArgs):
    """Who a new customer or lead is."""

    name: str = Field(min_length=1, max_length=200, description="Their name.")
    email: str | None = Field(None, max_length=254, description="Their email address.")
    phone: str | None = Field(None, max_length=50, description="Their phone number.")
    company: str | None = Field(None, max_length=200, description="Their company.")
    assigned_to_email: str | None = Field(
        None, max_length=254, description="Email of the staff member to assign them to; by default, me."
    )


def period_of(period: str | None, date_from: dt.date | None, date_to: dt.date | None) -> TimeRange | None:
    """The range the period arguments mean: explicit dates win over a period name; None when unfiltered."""
    if date_from or date_to:
        today = clock.now().astimezone(bot_zone()).date()
        return date_range(date_from or EARLIEST_DAY, date_to or today)
    return named_range(period) if period else None


def reference_number(reference: str) -> int | None:
    """The sequence number in 'deal 5', '#5' or '5'; None for anything else (an id)."""
    match = _NUMBER_REFERENCE.match(reference.strip())
    return int(match.group(1)) if match else None
