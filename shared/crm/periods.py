"""Named time periods ('this_month', 'last_7_days', …) as UTC ranges, in the bot's time zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import clock
from shared.config import get_settings

PeriodName = Literal[
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "last_7_days",
    "this_month",
    "last_month",
    "last_30_days",
    "this_year",
    "last_year",
]
PERIOD_NAMES: tuple[str, ...] = get_args(PeriodName)


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in UTC, with the period just before it (for 'this month vs last')."""

    name: str
    start: dt.datetime
    end: dt.datetime
    previous_start: dt.datetime
    previous_end: dt.datetime


def bot_zone() -> dt.tzinfo:
    """The time zone 'today' and 'this month' are meant in (BOT_TIME_ZONE; UTC when unknown)."""
    try:
        return ZoneInfo(get_settings().bot_time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def named_range(name: str, now: dt.datetime | None = None, zone: dt.tzinfo | None = None) -> TimeRange:
    """The range a period name means now; calendar periods include today (e.g. this month so far)."""
    zone = zone or bot_zone()
    local = (now or clock.now()).astimezone(zone)
    today = local.date()
    day = dt.timedelta(days=1)
    if name in ("today", "yesterday"):
        start = today - day if name == "yesterday" else today
        return _calendar(name, zone, start, start + day, start - day)
    if name in ("this_week", "last_week"):
        monday = today - dt.timedelta(days=today.weekday())
        start = monday - 7 * day if name == "last_week" else monday
        return _calendar(name, zone, start, start + 7 * day, start - 7 * day)
    if name in ("this_month", "last_month"):
        first = today.replace(day=1)
        start = _add_months(first, -1) if name == "last_month" else first
        return _calendar(name, zone, start, _add_months(start, 1), _add_months(start, -1))
    if name in ("this_year", "last_year"):
        start = dt.date(today.year - (name == "last_year"), 1, 1)
        return _calendar(name, zone, start, start.replace(year=start.year + 1), start.replace(year=start.year - 1))
    if name in ("last_7_days", "last_30_days"):
        days = 7 if name == "last_7_days" else 30
        start = today - (days - 1) * day
        return _calendar(name, zone, start, today + day, start - days * day)
    raise ValueError(f"unknown period {name!r}: use one of {', '.join(PERIOD_NAMES)}")


def date_range(first: dt.date, last: dt.date, zone: dt.tzinfo | None = None) -> TimeRange:
    """The local days first..last (inclusive), compared with as many days just before."""
    zone = zone or bot_zone()
    if last < first:
        first, last = last, first
    days = (last - first).days + 1
    end = last + dt.timedelta(days=1)
    return _calendar(f"{first.isoformat()} to {last.isoformat()}", zone, first, end, first - dt.timedelta(days=days))


def _calendar(name: str, zone: dt.tzinfo, start: dt.date, end: dt.date, previous_start: dt.date) -> TimeRange:
    return TimeRange(
        name, _midnight(start, zone), _midnight(end, zone), _midnight(previous_start, zone), _midnight(start, zone)
    )


def _midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def _add_months(first_of_month: dt.date, months: int) -> dt.date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)
