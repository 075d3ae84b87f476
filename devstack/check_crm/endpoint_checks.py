"""The endpoints: each operation of the YAML answers a well-formed request with a schema-valid body.

Most operations are answered in the checks of other sections (the lists in Pagination, the writes in Changes);
what is only read here: the test account, users by email, a record by id, and the statistics.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import quote

from devstack.check_crm.client import BOT, Answer, CrmClient, Identity, Request, json_text
from devstack.check_crm.contract import Contract
from devstack.check_crm.results import Check, Section, Tally
from devstack.check_crm.run import KINDS, MARKER, BadInput, CheckRun, Inputs, endpoint_check, expect, noun, record_path

USERS_BY_EMAIL = Check(
    "users?email= answers the user, and no item for an unknown email", Section.ENDPOINTS, "findUserByEmail"
)
STATS_COUNTS = Check("stats count every stage and status, zeros included", Section.ENDPOINTS, "getStatistics")
SAME_BY_ID = Check("a record reads the same by id as in its list", Section.ENDPOINTS)
CHECKS = [USERS_BY_EMAIL, STATS_COUNTS, SAME_BY_ID]
STATISTICS_COUNTS = {
    "deals_by_stage": "DealStage",
    "leads_by_status": "LeadStatus",
    "issues_by_status": "IssueStatus",
    "orders_by_status": "OrderStatus",
}
STATISTICS_DAYS = 30
NOT_EXERCISED = {
    "deleteOrder": "orders are not created through the contract, and the checks delete only what they made",
    "deleteFile": "files are not created through the contract, and the checks delete only what they made",
}


def endpoint_checks(contract: Contract) -> list[Check]:
    """One check per operation of the YAML, in its order."""
    return [endpoint_check(operation_id) for operation_id in contract.operations]


def read_account(inputs: Inputs, client: CrmClient, tally: Tally) -> tuple[Identity, dict[str, Any]] | None:
    """The test account as the bot reads it (GET /users/{id}, `sub: bot`); None when the answer is not a valid User
    (tallied as getUser's failure); BadInput when the inputs are wrong: no such user, another secret, not a vendor."""
    answer = client.call(Request("GET", f"/users/{quote(inputs.user_id, safe='')}", BOT))
    where = f"CHECK_CRM_USER_ID={inputs.user_id}: GET /users/{inputs.user_id} answered {answer.excerpt()}"
    if answer.status is None:
        raise BadInput(f"cannot reach CRM_API_URL={inputs.url}: {answer.text}")
    if answer.status == 401:
        raise BadInput(
            f"{where}. The CRM refused the token: CRM_SIGNING_SECRET or CRM_API_URL differ from the CRM's (the "
            "token's aud is CRM_API_URL exactly), or the two clocks are more than a few seconds apart"
        )
    if answer.status == 404:
        raise BadInput(f"{where}: no such user; set it to the CRM user id of a vendor of a test organisation")
    if not expect(tally, client.contract, answer, 200):
        return None
    user: dict[str, Any] = answer.body
    if user.get("role") != "vendor" or user.get("is_active") is not True:
        state = "an active" if user.get("is_active") is True else "an inactive"
        raise BadInput(
            f"CHECK_CRM_USER_ID={inputs.user_id} is {state} {user.get('role')}: the checks act as an active vendor "
            "(only a vendor creates customers and deletes); name a vendor of a test organisation"
        )
    return Identity(str(user["id"]), "vendor", str(user["org_id"])), user


def check_users_by_email(run: CheckRun) -> None:
    email = str(run.user.get("email", ""))
    nobody = f"{MARKER}-nobody-{uuid.uuid4().hex[:8]}@example.com"
    for subject, address, wanted in [
        ("the test account's email", email, [run.vendor.sub]),
        ("an unknown email", nobody, []),
    ]:
        answer = run.client.call(Request("GET", "/users", BOT, params={"email": address}))
        run.expect(answer, 200)
        items = answer.body.get("items") if answer.status == 200 and isinstance(answer.body, dict) else None
        ids = [item.get("id") for item in items if isinstance(item, dict)] if isinstance(items, list) else None
        if ids == wanted:
            run.tally.passed(USERS_BY_EMAIL, subject)
        else:
            expected = f"200 with {'the item ' + wanted[0] if wanted else 'no item'}"
            run.tally.failed(USERS_BY_EMAIL, subject, answer.request.describe(), expected, _users(ids, answer))


def _users(ids: list[Any] | None, answer: Answer) -> str:
    return f"items {ids}" if ids is not None else answer.excerpt()


def statistics_params() -> dict[str, str]:
    """The last 30 days, as /stats takes a period."""
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    since = before - dt.timedelta(days=STATISTICS_DAYS)
    return {"since": since.isoformat(), "before": before.isoformat()}


def check_statistics(run: CheckRun) -> None:
    answer = run.client.call(Request("GET", "/stats", run.vendor, params=statistics_params()))
    if not run.expect(answer, 200):
        run.tally.skipped(STATS_COUNTS, "GET /stats did not answer its figures")
        return
    for name, schema in STATISTICS_COUNTS.items():
        counted = answer.body.get(name)
        missing = [value for value in run.contract.enum(schema) if value not in counted]
        if missing:
            expected = f"{name} with a count for each {schema}"
            run.tally.failed(STATS_COUNTS, name, answer.request.describe(), expected, "none for " + ", ".join(missing))
        else:
            run.tally.passed(STATS_COUNTS, name)


def check_reads_by_id(run: CheckRun) -> None:
    """GET /{kind}/{id} of a listed record: schema-valid, and the same JSON as the list gave."""
    for kind in KINDS:
        listed = run.listed.get(kind, [])
        if not listed:
            run.tally.skipped(SAME_BY_ID, f"{kind}: no record listed")
            continue
        record = listed[0]
        answer = run.client.call(Request("GET", record_path(kind, str(record["id"])), run.vendor))
        if not run.expect(answer, 200):
            continue
        differing = sorted(name for name in {*record, *answer.body} if record.get(name) != answer.body.get(name))
        if differing:
            got = "differs in " + ", ".join(f"{name} ({json_text(record.get(name))} listed)" for name in differing)
            run.tally.failed(SAME_BY_ID, kind, answer.request.describe(), f"the {noun(kind)} as listed", got[:300])
        else:
            run.tally.passed(SAME_BY_ID, kind)


def skip_unexercised(run: CheckRun) -> None:
    """Every endpoint check nothing was tallied for says why: read-only, no login given, or never sent."""
    for operation in run.contract.operations.values():
        check = endpoint_check(operation.operation_id)
        if run.tally.tallied(check):
            continue
        if operation.operation_id in NOT_EXERCISED:
            why = NOT_EXERCISED[operation.operation_id]
        elif operation.method != "GET" and operation.operation_id != "login" and run.inputs.read_only:
            why = "--read-only: no POST, PATCH or DELETE sent"
        elif operation.operation_id == "login" and not run.inputs.can_log_in:
            why = "CHECK_CRM_EMAIL and CHECK_CRM_PASSWORD are not set"
        else:
            why = "no request of the checks reached it (an earlier step failed)"
        run.tally.skipped(check, why)
