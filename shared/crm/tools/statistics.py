"""The statistics tool: pipeline counts, and a period's leads, conversion, revenue and payments vs the one before."""

from __future__ import annotations

import datetime as dt
from typing import Any, Self

from pydantic import BaseModel, Field

from shared.crm.backend import get_crm
from shared.crm.periods import PeriodName, bot_zone, named_range
from shared.crm.port import PeriodTotals
from shared.crm.tools.arguments import DAY_FORMAT, Day, ToolArgs, period_of
from shared.crm.tools.caller import Caller
from shared.crm.tools.results import NullsShown, ToolReply, missing_index
from shared.crm.tools.tool import Tool
from shared.roles import STAFF
from shared.store.errors import MissingIndex

PARTIAL_SUMS = "sums cover only part of the period's records"


class StatisticsArgs(ToolArgs):
    period: PeriodName = Field("this_month", description="The period to report on; compared with the one before.")
    date_from: Day | None = Field(None, description=f"Instead of a period: the first day ({DAY_FORMAT}).")
    date_to: Day | None = Field(None, description=f"Instead of a period: the last day ({DAY_FORMAT}).")


class Days(BaseModel):
    """A period's local dates, the last one included."""

    first: dt.date = Field(serialization_alias="from")
    last: dt.date = Field(serialization_alias="to")

    @classmethod
    def of(cls, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo, **more: Any) -> Self:
        """The days of [start, end) in `zone`."""
        last = (end.astimezone(zone) - dt.timedelta(microseconds=1)).date()
        return cls(first=start.astimezone(zone).date(), last=last, **more)


class NamedDays(Days):
    name: str


class PeriodFigures(NullsShown):
    """A period's leads, deals won and payments; sums per currency."""

    new_leads: int
    converted_leads: int
    lead_conversion_rate_percent: float | None
    deals_won: int
    revenue: dict[str, float]
    payments_count: int
    payments_total: dict[str, float]
    partial: str | None = None
    """Why the sums are not whole, when they are not."""


class PercentChanges(NullsShown):
    """The period's figures against the one before, in percent (None where the one before had none)."""

    new_leads: float | None
    deals_won: float | None
    payments_count: float | None
    revenue: dict[str, float | None]
    payments_total: dict[str, float | None]


class Statistics(ToolReply):
    """The pipeline by stage and status now, and a period's figures against the period before."""

    deals_by_stage: dict[str, int]
    leads_by_status: dict[str, int]
    issues_by_status: dict[str, int]
    orders_by_status: dict[str, int]
    period: NamedDays
    previous_period: Days
    current: PeriodFigures
    previous: PeriodFigures
    change_percent: PercentChanges
    notes: str = (
        "Counts by stage/status are of all records now. Period figures: leads created in the period, "
        "the share of them converted, deals won (closed_won, by closed_at) and payments received."
    )


def statistics(caller: Caller, args: StatisticsArgs) -> Statistics:
    try:
        return _statistics(caller, args)
    except MissingIndex as error:
        raise missing_index("statistics", error) from None


def _statistics(caller: Caller, args: StatisticsArgs) -> Statistics:
    chosen = period_of(args.period, args.date_from, args.date_to) or named_range("this_month")
    zone = bot_zone()
    counted = get_crm().statistics(caller, [(chosen.start, chosen.end), (chosen.previous_start, chosen.previous_end)])
    now_figures, then_figures = (_figures(totals) for totals in counted.periods)
    return Statistics(
        deals_by_stage=counted.deals_by_stage,
        leads_by_status=counted.leads_by_status,
        issues_by_status=counted.issues_by_status,
        orders_by_status=counted.orders_by_status,
        period=NamedDays.of(chosen.start, chosen.end, zone, name=chosen.name),
        previous_period=Days.of(chosen.previous_start, chosen.previous_end, zone),
        current=now_figures,
        previous=then_figures,
        change_percent=_changes(now_figures, then_figures),
    )


def _figures(totals: PeriodTotals) -> PeriodFigures:
    new_leads, converted = totals.new_leads, totals.converted_leads
    return PeriodFigures(
        new_leads=new_leads,
        converted_leads=converted,
        lead_conversion_rate_percent=round(100 * converted / new_leads, 1) if new_leads else None,
        deals_won=totals.deals_won,
        revenue=totals.revenue,
        payments_count=totals.payments_count,
        payments_total=totals.payments_total,
        partial=None if totals.complete else PARTIAL_SUMS,
    )


def _changes(now: PeriodFigures, then: PeriodFigures) -> PercentChanges:
    def percent(current: float, before: float) -> float | None:
        return round(100 * (current - before) / before, 1) if before else None

    def per_currency(current: dict[str, float], before: dict[str, float]) -> dict[str, float | None]:
        return {c: percent(current.get(c, 0.0), before.get(c, 0.0)) for c in sorted(set(current) | set(before))}

    return PercentChanges(
        new_leads=percent(now.new_leads, then.new_leads),
        deals_won=percent(now.deals_won, then.deals_won),
        payments_count=percent(now.payments_count, then.payments_count),
        revenue=per_currency(now.revenue, then.revenue),
        payments_total=per_currency(now.payments_total, then.payments_total),
    )


TOOLS: list[Tool[Any]] = [
    Tool(
        name="get_statistics",
        description=(
            "CRM statistics of the organisation: deals by stage, leads/issues/orders by status, and for a period "
            "(default this month, compared with the previous one): new leads, lead conversion rate, deals won and "
            "revenue, payments received."
        ),
        args_model=StatisticsArgs,
        roles=STAFF,
        run=statistics,
    ),
]
