"""Changes: a test record of each kind is created (once per Idempotency-Key), read back, changed only when `expect`
holds, and deleted; whatever the checks made is deleted again at the end."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from devstack.check_crm.client import Request, json_text
from devstack.check_crm.results import Check, Section
from devstack.check_crm.run import KINDS, MARKER, CheckRun, noun, record_path
from devstack.check_crm.write_values import LABELS, Change, change_of, changeable, creatable, new_record

ROUND_TRIP = Check("a create answers the record as stored, and a GET reads the same", Section.CHANGES)
SAME_KEY = Check("the same Idempotency-Key again answers 200 with the same record", Section.CHANGES)
KEY_OTHER_BODY = Check("the same Idempotency-Key with another body is a 422", Section.CHANGES)
STALE_EXPECT = Check("a PATCH whose expect does not hold is a 412 and writes nothing", Section.CHANGES)
EXPECT_HOLDS = Check("a PATCH whose expect holds is written", Section.CHANGES)
DELETED = Check("after a DELETE, a GET and a second DELETE are 404s", Section.CHANGES)
CLEANED_UP = Check("the records the checks made are deleted again", Section.CHANGES)
REPLAYED_JTI = Check("a write replaying a token's jti is a 401", Section.TOKEN, should=True)
RECORD_CHECKS = [ROUND_TRIP, SAME_KEY, KEY_OTHER_BODY, STALE_EXPECT, EXPECT_HOLDS, DELETED, REPLAYED_JTI]
"""The checks each test record goes through."""
CHECKS = [*RECORD_CHECKS, CLEANED_UP]
READ_ONLY = "--read-only: no POST, PATCH or DELETE sent"


def check_writes(run: CheckRun) -> None:
    if run.inputs.read_only:
        for check in CHECKS:
            run.tally.skipped(check, READ_ONLY)
        return
    for kind in KINDS:
        if creatable(run.contract, kind):
            _check_record_life(run, kind)


def _check_record_life(run: CheckRun, kind: str) -> None:
    fields = new_record(run, kind)
    if fields is None:
        for check in RECORD_CHECKS:
            run.tally.skipped(check, f"{kind}: no order listed to record a payment for")
        return
    create = Request("POST", f"/{kind}", run.vendor, body=fields, idempotency_key=f"{MARKER}-{uuid.uuid4().hex}")
    created = run.client.call(create)
    run.note_made(kind, created)
    if not run.expect(created, 201):
        for check in RECORD_CHECKS:
            run.tally.skipped(check, f"{kind}: the create was not answered with a 201 (see create{noun(kind)})")
        return
    record: dict[str, Any] = created.body
    _check_same_key(run, kind, create, record)
    _check_key_with_another_body(run, kind, create)
    stored = _check_round_trip(run, kind, fields, record)
    if changeable(run.contract, kind) and stored is not None:
        _check_changes(run, kind, stored)
    _check_delete(run, kind, str(record["id"]))


def _check_same_key(run: CheckRun, kind: str, create: Request, record: dict[str, Any]) -> None:
    """The create again (the bot's retry, with a new token) answers the record; the same token again is a replay."""
    token = "Bearer " + run.client.mint(run.vendor)
    again = run.client.send(create, token)
    run.note_made(kind, again)
    body = again.body if isinstance(again.body, dict) else {}
    errors = run.contract.errors(f"#/components/schemas/{noun(kind)}", body) if again.status == 200 else []
    if again.status == 200 and body.get("id") == record["id"] and not errors:
        run.tally.passed(SAME_KEY, kind)
    else:
        got = again.excerpt() + (f" ({'; '.join(errors[:2])})" if errors else "")
        run.tally.failed(SAME_KEY, kind, again.request.describe(), f"200 with the record {record['id']}", got)
    replayed = run.client.send(create, token)
    run.note_made(kind, replayed)
    if replayed.status == 401:
        run.tally.passed(REPLAYED_JTI, kind)
    else:
        where = f"{create.describe()}, twice with one token"
        run.tally.failed(REPLAYED_JTI, kind, where, "401 the second time", replayed.excerpt())


def _check_key_with_another_body(run: CheckRun, kind: str, create: Request) -> None:
    label = LABELS[kind]
    other = dataclasses.replace(create, body={**create.body, label: f"{create.body[label]} (another body)"})
    refused = run.client.call(other)
    run.note_made(kind, refused)
    if refused.status == 422:
        run.tally.passed(KEY_OTHER_BODY, kind)
    else:
        run.tally.failed(KEY_OTHER_BODY, kind, other.describe() + " (same key)", "422", refused.excerpt())


def _check_round_trip(
    run: CheckRun, kind: str, fields: dict[str, Any], record: dict[str, Any]
) -> dict[str, Any] | None:
    """The create's answer has the fields as sent, a number and the organisation; a GET reads it the same."""
    answer = run.client.call(Request("GET", record_path(kind, str(record["id"])), run.vendor))
    stored: dict[str, Any] | None = answer.body if run.expect(answer, 200) else None
    shortfalls = _round_trip_shortfalls(run, fields, record, stored)
    if stored is None:
        shortfalls.append(("200 with the record", answer.excerpt()))
    for expected, got in shortfalls:
        run.tally.failed(ROUND_TRIP, kind, f"POST /{kind}, then {answer.request.describe()}", expected, got)
    if not shortfalls:
        run.tally.passed(ROUND_TRIP, kind)
    return stored


def _round_trip_shortfalls(
    run: CheckRun, fields: dict[str, Any], record: dict[str, Any], stored: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """(expected, got) for each way the created and the stored record differ from what was sent."""
    shortfalls = []
    sent = {**fields, "org_id": run.vendor.org_id}
    differing = [name for name, value in sent.items() if not _same(record.get(name), value)]
    if differing:
        got = ", ".join(f"{name} {json_text(record.get(name))} (sent {json_text(sent[name])})" for name in differing)
        shortfalls.append(("the create's answer with the fields as sent", got))
    if not isinstance(record.get("number"), int):
        shortfalls.append(("a number, assigned on create", f"number {json_text(record.get('number'))}"))
    if stored is not None and _differing(record, stored):
        got = ", ".join(
            f"{name} {json_text(stored.get(name))} (created {json_text(record.get(name))})"
            for name in _differing(record, stored)
        )
        shortfalls.append(("the GET to read the record as the create answered it", got))
    return shortfalls


def _check_changes(run: CheckRun, kind: str, stored: dict[str, Any]) -> None:
    """A change whose `expect` does not hold writes nothing; then the same change expecting the record as it is does."""
    change = change_of(run, kind, stored)
    path = record_path(kind, str(stored["id"]))
    stale = run.client.call(Request("PATCH", path, run.vendor, body=change.body(change.target)))
    after = run.client.call(Request("GET", path, run.vendor))
    differing = _differing(stored, after.body) if after.status == 200 and isinstance(after.body, dict) else ["all"]
    if stale.status == 412 and not differing:
        run.tally.passed(STALE_EXPECT, kind)
    else:
        got = stale.excerpt() + (f"; then GET: {', '.join(differing)} changed" if differing else "")
        run.tally.failed(STALE_EXPECT, kind, stale.request.describe(), "412, nothing written", got)
    _check_expect_holds(run, kind, path, change)


def _check_expect_holds(run: CheckRun, kind: str, path: str, change: Change) -> None:
    fresh = run.client.call(Request("PATCH", path, run.vendor, body=change.body(change.current)))
    if not run.expect(fresh, 200):
        run.tally.failed(EXPECT_HOLDS, kind, fresh.request.describe(), "200 with the record", fresh.excerpt())
        return
    now = run.client.call(Request("GET", path, run.vendor))
    shown = [body.get(change.field) if isinstance(body, dict) else None for body in (fresh.body, now.body)]
    if shown == [change.target, change.target]:
        run.tally.passed(EXPECT_HOLDS, kind)
    else:
        expected = f"{change.field} {json_text(change.target)}, in the answer and by GET"
        got = f"{change.field} {json_text(shown[0])} in the answer, {json_text(shown[1])} by GET"
        run.tally.failed(EXPECT_HOLDS, kind, fresh.request.describe(), expected, got)


def _check_delete(run: CheckRun, kind: str, record_id: str) -> None:
    path = record_path(kind, record_id)
    deleted = run.client.call(Request("DELETE", path, run.vendor))
    if not run.expect(deleted, 204):
        run.tally.skipped(DELETED, f"{kind}: the DELETE was not a 204 (see delete{noun(kind)})")
        return
    run.note_deleted(kind, record_id)
    for request in (Request("GET", path, run.vendor), Request("DELETE", path, run.vendor)):
        answer = run.client.call(request)
        if answer.status == 404:
            run.tally.passed(DELETED, kind)
        else:
            run.tally.failed(DELETED, kind, request.describe() + " after the DELETE", "404", answer.excerpt())


def clean_up(run: CheckRun) -> None:
    """Delete every record a request of the checks made and nothing deleted since (even one made by a bad token)."""
    if run.inputs.read_only:
        return
    for kind, record_id in list(run.made):
        answer = run.client.call(Request("DELETE", record_path(kind, record_id), run.vendor))
        if answer.status in (204, 404):
            run.note_deleted(kind, record_id)
        else:
            run.tally.failed(CLEANED_UP, f"/{kind}/{record_id}", answer.request.describe(), "204", answer.excerpt())
    if not run.made:
        run.tally.passed(CLEANED_UP, "every record the checks made")


def _same(value: Any, sent: Any) -> bool:
    """A field as answered against the value sent: numbers compare as numbers (1 and 1.0)."""
    if isinstance(value, int | float) and isinstance(sent, int | float) and not isinstance(value, bool):
        return float(value) == float(sent)
    return bool(value == sent)


def _differing(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(name for name in {*before, *after} if not _same(after.get(name), before.get(name)))
