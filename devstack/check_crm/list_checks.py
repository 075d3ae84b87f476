"""Pagination: every kind's list respects `limit`, is newest first, and following `next_cursor` ends, once per item."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from devstack.check_crm.client import Answer, Request, json_text
from devstack.check_crm.results import Check, Section
from devstack.check_crm.run import KINDS, MARKER, CheckRun, noun

LIMITED = Check("a page holds at most `limit` items (10 without one)", Section.PAGINATION)
ENDS = Check("following next_cursor ends with null", Section.PAGINATION)
ONCE = Check("following next_cursor never returns an item twice", Section.PAGINATION)
NEWEST_FIRST = Check("lists are newest first (created_at, then id, descending)", Section.PAGINATION)
NONE_SKIPPED = Check("the pages together list what one page of 50 lists", Section.PAGINATION)
BY_NUMBER = Check("?number= finds that record", Section.PAGINATION)
BY_ID = Check("?id= reads exactly those records", Section.PAGINATION)
FOREIGN_CURSOR = Check("a cursor the CRM did not make is a 422", Section.PAGINATION)
CHECKS = [LIMITED, ENDS, ONCE, NEWEST_FIRST, NONE_SKIPPED, BY_NUMBER, BY_ID, FOREIGN_CURSOR]

WALK_LIMIT = 5
"""Small pages, so that a test organisation's few records still take several."""
MAX_PAGES = 200
WIDE_LIMIT = 50
DEFAULT_LIMIT = 10
SMALL_LIMIT = 2


@dataclass
class Walk:
    """Every item of every page, following next_cursor from the first page."""

    kind: str
    items: list[dict[str, Any]]
    ended: bool
    """True when a next_cursor was null (or MAX_PAGES brought only new items: no loop as far as it went)."""
    stopped: str | None = None
    """Why the walk stopped before a null next_cursor."""
    capped: bool = False

    def distinct(self) -> list[dict[str, Any]]:
        """The items in the order they came, each the first time only."""
        seen: set[str] = set()
        first_times = []
        for item in self.items:
            if str(item.get("id")) not in seen:
                seen.add(str(item.get("id")))
                first_times.append(item)
        return first_times

    def repeated(self) -> list[str]:
        """The ids that came more than once, in the order they first came."""
        counts = Counter(str(item.get("id")) for item in self.items)
        return [record_id for record_id, count in counts.items() if count > 1]


def check_lists(run: CheckRun) -> None:
    for kind in KINDS:
        walk = _walk(run, kind)
        if walk is None:
            for check in CHECKS:
                run.tally.skipped(check, f"{kind}: the first page is no page (see list{noun(kind)}s)")
            continue
        run.listed[kind] = walk.distinct()
        _check_walk(run, walk)
        _check_order(run, walk)
        _check_limits(run, walk)
        _check_wide_page(run, walk)
        _check_lookups(run, walk)
        _check_foreign_cursor(run, kind)


def _check_foreign_cursor(run: CheckRun, kind: str) -> None:
    answer = run.client.call(Request("GET", f"/{kind}", run.vendor, params={"cursor": f"{MARKER}-not-a-cursor"}))
    if answer.status == 422:
        run.tally.passed(FOREIGN_CURSOR, kind)
    else:
        run.tally.failed(FOREIGN_CURSOR, kind, answer.request.describe(), "422", answer.excerpt())


def _walk(run: CheckRun, kind: str) -> Walk | None:
    """Follow next_cursor from the first page; None when the first page is not a page at all."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": WALK_LIMIT}
    cursors: set[str] = set()
    for number in range(1, MAX_PAGES + 1):
        answer = run.client.call(Request("GET", f"/{kind}", run.vendor, params=dict(params)))
        run.expect(answer, 200)
        page = _page_items(answer)
        if page is None:
            return Walk(kind, items, False, f"page {number} answered {answer.excerpt()}") if items else None
        new = {str(item.get("id")) for item in page} - {str(item.get("id")) for item in items}
        items += page
        cursor = answer.body.get("next_cursor")
        if cursor is None:
            return Walk(kind, items, True)
        if not new:
            return Walk(kind, items, False, f"page {number} brought no new item, and a next_cursor again")
        if cursor in cursors:
            return Walk(kind, items, False, f"page {number} gave a next_cursor given before")
        cursors.add(str(cursor))
        params["cursor"] = cursor
    return Walk(kind, items, True, capped=True)


def _page_items(answer: Answer) -> list[dict[str, Any]] | None:
    """The items of a 200 page (the schema is the endpoint check's to judge), or None if it is no page."""
    if answer.status != 200 or not isinstance(answer.body, dict) or not isinstance(answer.body.get("items"), list):
        return None
    return [item for item in answer.body["items"] if isinstance(item, dict)]


def _check_walk(run: CheckRun, walk: Walk) -> None:
    where = f"GET /{walk.kind}?limit={WALK_LIMIT}, then each next_cursor"
    if walk.ended:
        run.tally.passed(
            ENDS, walk.kind, f"stopped after {MAX_PAGES} pages, each with new items" if walk.capped else None
        )
    else:
        run.tally.failed(ENDS, walk.kind, where, "a null next_cursor after the last item", str(walk.stopped))
    repeated = walk.repeated()
    if repeated:
        twice = f"{len(repeated)} item{'s' if len(repeated) > 1 else ''} twice"
        got = f"{twice} in {len(walk.items)} items: {', '.join(repeated[:5])}"
        run.tally.failed(ONCE, walk.kind, where, "each item once", got)
    else:
        run.tally.passed(ONCE, walk.kind)


def _check_order(run: CheckRun, walk: Walk) -> None:
    distinct = walk.distinct()
    for position, (newer, older) in enumerate(zip(distinct, distinct[1:], strict=False), start=2):
        if not _newest_first(newer, older):
            where = f"GET /{walk.kind}?limit={WALK_LIMIT}, then each next_cursor"
            got = f"item {position} {_position(older)} comes after {_position(newer)}"
            run.tally.failed(NEWEST_FIRST, walk.kind, where, "created_at, then id, descending", got)
            return
    run.tally.passed(NEWEST_FIRST, walk.kind)


def _newest_first(newer: dict[str, Any], older: dict[str, Any]) -> bool:
    newer_time, older_time = _created(newer), _created(older)
    if newer_time is None or older_time is None:
        return True  # a missing or malformed created_at is the endpoint check's to report
    if newer_time != older_time:
        return newer_time > older_time
    newer_id, older_id = str(newer.get("id")), str(older.get("id"))
    if newer_id.isdigit() and older_id.isdigit():  # integer keys as strings: '10' after '9'
        return int(newer_id) > int(older_id)
    return newer_id > older_id


def _created(item: dict[str, Any]) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(item.get("created_at")))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _position(item: dict[str, Any]) -> str:
    return f"(created_at {item.get('created_at')}, id {item.get('id')})"


def _check_limits(run: CheckRun, walk: Walk) -> None:
    total = len(walk.distinct())
    for limit in (SMALL_LIMIT, None):
        params = {"limit": limit} if limit else {}
        answer = run.client.call(Request("GET", f"/{walk.kind}", run.vendor, params=params))
        run.expect(answer, 200)
        items = _page_items(answer)
        most = limit or DEFAULT_LIMIT
        if items is None:
            run.tally.failed(
                LIMITED, walk.kind, answer.request.describe(), f"a page of at most {most}", answer.excerpt()
            )
        elif len(items) > most or (total > most and answer.body.get("next_cursor") is None):
            expected = f"at most {most} items" + (", and a next_cursor (there are more)" if total > most else "")
            got = f"{len(items)} items, next_cursor {json_text(answer.body.get('next_cursor'))}"
            run.tally.failed(LIMITED, walk.kind, answer.request.describe(), expected, got)
        else:
            run.tally.passed(LIMITED, walk.kind)


def _check_wide_page(run: CheckRun, walk: Walk) -> None:
    """The walk's items, as far as it went, are the ones one page of 50 starts with: no cursor skipped any."""
    answer = run.client.call(Request("GET", f"/{walk.kind}", run.vendor, params={"limit": WIDE_LIMIT}))
    run.expect(answer, 200)
    wide = _page_items(answer)
    if wide is None:
        run.tally.skipped(NONE_SKIPPED, f"{walk.kind}: the page of 50 did not answer")
        return
    walked = [str(item.get("id")) for item in walk.distinct()]
    one_page = [str(item.get("id")) for item in wide]
    shared = min(len(walked), len(one_page))
    if walked[:shared] == one_page[:shared]:
        run.tally.passed(NONE_SKIPPED, walk.kind)
        return
    first = next(i for i, (a, b) in enumerate(zip(walked, one_page, strict=False)) if a != b)
    got = f"item {first + 1} is {walked[first]} following next_cursor, {one_page[first]} in the page of 50"
    run.tally.failed(NONE_SKIPPED, walk.kind, answer.request.describe(), "the same items in the same order", got)


def _check_lookups(run: CheckRun, walk: Walk) -> None:
    distinct = walk.distinct()
    numbered = next((item for item in distinct if isinstance(item.get("number"), int)), None)
    if numbered is None:
        run.tally.skipped(BY_NUMBER, f"{walk.kind}: no listed record has a number")
    else:
        _check_lookup(run, BY_NUMBER, walk.kind, {"number": numbered["number"]}, [str(numbered["id"])])
    ids = [str(item.get("id")) for item in distinct[:2]]
    if ids:
        _check_lookup(run, BY_ID, walk.kind, {"id": ids}, ids)
    else:
        run.tally.skipped(BY_ID, f"{walk.kind}: no record listed")


def _check_lookup(run: CheckRun, check: Check, kind: str, params: dict[str, Any], wanted: list[str]) -> None:
    answer = run.client.call(Request("GET", f"/{kind}", run.vendor, params=params))
    run.expect(answer, 200)
    items = _page_items(answer)
    if items is None:
        run.tally.failed(check, kind, answer.request.describe(), "a page", answer.excerpt())
        return
    found = sorted(str(item.get("id")) for item in items)
    if found == sorted(wanted) and answer.body.get("next_cursor") is None:
        run.tally.passed(check, kind)
        return
    got = f"items {found}, next_cursor {json_text(answer.body.get('next_cursor'))}"
    run.tally.failed(check, kind, answer.request.describe(), f"items {sorted(wanted)}, next_cursor null", got)
