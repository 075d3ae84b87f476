"""What each status means to the bot: 404 for what is not there, problem details for every error, and only the
statuses the YAML lists (the bot acts on the status alone)."""

from __future__ import annotations

from devstack.check_crm.client import BOT, Answer, Request, json_text
from devstack.check_crm.contract import Operation
from devstack.check_crm.results import Check, Section
from devstack.check_crm.run import KINDS, CheckRun, noun, record_path
from devstack.check_crm.write_values import change_of, changeable

UNKNOWN_READ = Check("GET of an unknown id is a 404", Section.STATUSES)
UNKNOWN_WRITE = Check("PATCH and DELETE of an unknown id are 404s", Section.STATUSES)
PROBLEM_TYPE = Check("errors are application/problem+json", Section.STATUSES)
PROBLEM_BODY = Check("problem details carry the status and a title", Section.STATUSES)
LISTED_STATUS = Check("every status is one the YAML lists for its endpoint", Section.STATUSES)
CHECKS = [UNKNOWN_READ, UNKNOWN_WRITE, PROBLEM_TYPE, PROBLEM_BODY, LISTED_STATUS]
PROBLEM = "application/problem+json"
PROBLEM_SCHEMA = "#/components/schemas/Problem"


def check_unknown_ids(run: CheckRun) -> None:
    reads = [(kind, Request("GET", record_path(kind, run.unknown_id), run.vendor)) for kind in KINDS]
    reads.append(("users", Request("GET", f"/users/{run.unknown_id}", BOT)))
    for subject, request in reads:
        _expect_404(run, UNKNOWN_READ, subject, request)
    if run.inputs.read_only:
        run.tally.skipped(UNKNOWN_WRITE, "--read-only: no PATCH or DELETE sent")
        return
    for kind in KINDS:
        if changeable(run.contract, kind):
            change = change_of(run, kind, {})
            request = Request("PATCH", record_path(kind, run.unknown_id), run.vendor, body=change.body(change.current))
            _expect_404(run, UNKNOWN_WRITE, f"update{noun(kind)}", request)
        request = Request("DELETE", record_path(kind, run.unknown_id), run.vendor)
        _expect_404(run, UNKNOWN_WRITE, f"delete{noun(kind)}", request)


def _expect_404(run: CheckRun, check: Check, subject: str, request: Request) -> None:
    answer = run.client.call(request)
    if answer.status == 404:
        run.tally.passed(check, subject)
    else:
        run.tally.failed(check, subject, request.describe(), "404", answer.excerpt())


def check_answers(run: CheckRun) -> None:
    """Every answer of the run: listed statuses; every error a problem details document of its status."""
    judged: set[tuple[str, int, str]] = set()
    for answer in run.client.answers:
        if answer.status is None or answer.operation is None:
            continue
        operation = answer.operation.operation_id
        if (operation, answer.status, answer.media_type) in judged:  # one finding per kind of answer is enough
            continue
        judged.add((operation, answer.status, answer.media_type))
        if answer.operation.lists(answer.status):
            run.tally.passed(LISTED_STATUS, operation)
        else:
            listed = ", ".join(answer.operation.responses)
            run.tally.failed(LISTED_STATUS, operation, answer.request.describe(), f"one of {listed}", answer.excerpt())
        if answer.status >= 400:
            _check_problem(run, answer.operation, answer.status, answer)


def _check_problem(run: CheckRun, operation: Operation, status: int, answer: Answer) -> None:
    where, subject = answer.request.describe(), operation.operation_id
    if answer.media_type == PROBLEM:
        run.tally.passed(PROBLEM_TYPE, subject)
    else:
        run.tally.failed(PROBLEM_TYPE, subject, where, f"Content-Type: {PROBLEM}", answer.excerpt())
    pointer = operation.schema_of(status) or PROBLEM_SCHEMA
    errors = run.contract.errors(pointer, answer.body) if answer.is_json else ["not JSON"]
    body = answer.body if isinstance(answer.body, dict) else {}
    if body.get("status") != status:
        errors.append(f"status is {json_text(body.get('status'))}, not {status}")
    if not isinstance(body.get("title"), str) or not body["title"]:
        errors.append("no title")
    if errors:
        expected = f'{{"status": {status}, "title": ...}}, a valid {pointer.rsplit("/", 1)[-1]}'
        run.tally.failed(PROBLEM_BODY, subject, where, expected, f"{answer.excerpt()} ({'; '.join(errors[:3])})")
    else:
        run.tally.passed(PROBLEM_BODY, subject)
