"""The statistics tool: pipeline counts, and a period's leads, conversion, revenue and payments vs the one before."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import Field

from shared.crm.periods import PeriodName, bot_zone, named_range
from shared.crm.records import (
    DEAL_STAGES,
    ISSUE_STATUSES,
    LEAD_STATUSES,
    ORDER_STATUSES,
    CrmRecord,
    Deal,
    Issue,
    Lead,
    Order,
    Payment,
    Where,
    count_records,
    select_fields,
)
from shared.crm.tools.arguments import DAY_FORMAT, Day, ToolArgs, period_of
from shared.crm.tools.caller import Caller, ToolResult
from shared.crm.tools.results import missing_index
from shared.crm.tools.tool import Tool
from shared.roles import STAFF
from shared.store.errors import MissingIndex

MAX_SUMMED_RECORDS = 5000
_PARALLEL_QUERIES = 8


class StatisticsArgs(ToolArgs):
    period: PeriodName = Field("this_month", description="The period to report on; compared with the one before.")
    date_from: Day | None = Field(None, description=f"Instead of a period: the first day ({DAY_FORMAT}).")
    date_to: Day | None = Field(None, description=f"Instead of a period: the last day ({DAY_FORMAT}).")


def statistics(caller: Caller, args: StatisticsArgs) -> ToolResult:
    try:
        return _statistics(caller, args)
    except MissingIndex as error:
        raise missing_index("statistics", error) from None


def _statistics(caller: Caller, args: StatisticsArgs) -> ToolResult:
    chosen = period_of(args.period, args.date_from, args.date_to) or named_range("this_month")
    zone = bot_zone()
    org = caller.org_id
    breakdowns: list[tuple[str, type[CrmRecord], str, tuple[str, ...]]] = [
        ("deals_by_stage", Deal, "stage", DEAL_STAGES),
        ("leads_by_status", Lead, "status", LEAD_STATUSES),
        ("issues_by_status", Issue, "status", ISSUE_STATUSES),
        ("orders_by_status", Order, "status", ORDER_STATUSES),
    ]
    with ThreadPoolExecutor(_PARALLEL_QUERIES) as pool:
        counts = {
            (name, value): pool.submit(count_records, model, Where(org, equals={field: value}))
            for name, model, field, values in breakdowns
            for value in values
        }
        current = pool.submit(_period_figures, org, chosen.start, chosen.end)
        previous = pool.submit(_period_figures, org, chosen.previous_start, chosen.previous_end)
        result: ToolResult = {
            name: {value: counts[(name, value)].result() for value in values} for name, _, _, values in breakdowns
        }
        now_figures, then_figures = current.result(), previous.result()
    previous_range = {
        "from": chosen.previous_start.astimezone(zone).date().isoformat(),
        "to": (chosen.previous_end.astimezone(zone) - dt.timedelta(microseconds=1)).date().isoformat(),
    }
    result.update(
        {
            "period": chosen.describe(zone),
            "previous_period": previous_range,
            "current": now_figures,
            "previous": then_figures,
            "change_percent": _changes(now_figures, then_figures),
            "notes": (
                "Counts by stage/status are of all records now. Period figures: leads created in the period, "
                "the share of them converted, deals won (closed_won, by closed_at) and payments received."
            ),
        }
    )
    return result


def _period_figures(org_id: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    new_leads = count_records(Lead, Where(org_id, since=start, before=end))
    converted = count_records(Lead, Where(org_id, equals={"status": "converted"}, since=start, before=end))
    won, won_complete = select_fields(
        Deal,
        Where(org_id, equals={"stage": "closed_won"}, range_field="closed_at", since=start, before=end),
        ["value", "currency"],
        MAX_SUMMED_RECORDS,
    )
    paid, paid_complete = select_fields(
        Payment, Where(org_id, since=start, before=end), ["amount", "currency"], MAX_SUMMED_RECORDS
    )
    figures: dict[str, Any] = {
        "new_leads": new_leads,
        "converted_leads": converted,
        "lead_conversion_rate_percent": round(100 * converted / new_leads, 1) if new_leads else None,
        "deals_won": len(won),
        "revenue": _totals(won, "value"),
        "payments_count": len(paid),
        "payments_total": _totals(paid, "amount"),
    }
    if not (won_complete and paid_complete):
        figures["partial"] = f"sums cover the first {MAX_SUMMED_RECORDS} records only"
    return figures


def _totals(rows: list[dict[str, Any]], field: str) -> dict[str, float]:
    """Sums per currency."""
    totals: dict[str, float] = {}
    for row in rows:
        amount = row.get(field)
        if isinstance(amount, int | float):
            currency = str(row.get("currency") or "?").upper()
            totals[currency] = round(totals.get(currency, 0.0) + float(amount), 2)
    return totals


def _changes(now: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    def percent(current: float, before: float) -> float | None:
        return round(100 * (current - before) / before, 1) if before else None

    changes: dict[str, Any] = {
        "new_leads": percent(now["new_leads"], then["new_leads"]),
        "deals_won": percent(now["deals_won"], then["deals_won"]),
        "payments_count": percent(now["payments_count"], then["payments_count"]),
    }
    for name in ("revenue", "payments_total"):
        currencies = sorted(set(now[name]) | set(then[name]))
        changes[name] = {c: percent(now[name].get(c, 0.0), then[name].get(c, 0.0)) for c in currencies}
    return changes


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
