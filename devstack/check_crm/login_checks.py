"""Login: the right password answers the user; a wrong password and an unknown email get one and the same 401,
in about the same time (so a login never tells which emails have an account)."""

from __future__ import annotations

import statistics
import uuid
from typing import Any

from devstack.check_crm.client import BOT, Answer, Request
from devstack.check_crm.results import Check, Section
from devstack.check_crm.run import MARKER, CheckRun

RIGHT_PASSWORD = Check("the right password answers the test account", Section.LOGIN, "login")
REFUSED = Check("a wrong password or an unknown email is a 401", Section.LOGIN, "login")
SAME_REFUSAL = Check("an unknown email gets the same answer as a wrong password", Section.LOGIN, "login")
SAME_TIME = Check("an unknown email takes about as long as a wrong password", Section.LOGIN, "login", should=True)
CHECKS = [RIGHT_PASSWORD, REFUSED, SAME_REFUSAL, SAME_TIME]

TRIES = 3
"""Wrong passwords for the test account: few, so that a CRM's own lockout is not reached."""
VOLATILE = frozenset({"instance"})
"""Problem members that name the one occurrence (RFC 9457 `instance`), so may differ between two refusals."""
SLOWER_RATIO = 2.0
SLOWER_SECONDS = 0.005
NO_LOGIN = "CHECK_CRM_EMAIL and CHECK_CRM_PASSWORD are not set"


def login_request(email: str, password: str) -> Request:
    return Request("POST", "/auth/login", BOT, body={"email": email, "password": password})


def check_login(run: CheckRun) -> None:
    email, password = run.inputs.email, run.inputs.password
    domain = (email or "").rpartition("@")[2] or "example.com"
    nobody = f"{MARKER}-nobody-{uuid.uuid4().hex[:8]}@{domain}"
    wrong_password = f"{MARKER}-wrong-{uuid.uuid4().hex[:8]}"
    if email is None or password is None:
        _check_refused(run, "an unknown email", run.client.call(login_request(nobody, wrong_password)))
        for check in (RIGHT_PASSWORD, SAME_REFUSAL, SAME_TIME):
            run.tally.skipped(check, NO_LOGIN)
        return
    right = run.client.call(login_request(email, password))
    if run.expect(right, 200) and right.body.get("id") == run.vendor.sub:
        run.tally.passed(RIGHT_PASSWORD, "CHECK_CRM_EMAIL")
    else:
        expected = f"200 with the user {run.vendor.sub} (CHECK_CRM_USER_ID)"
        run.tally.failed(RIGHT_PASSWORD, "CHECK_CRM_EMAIL", right.request.describe(), expected, right.excerpt())
    wrong, unknown = [], []
    for _ in range(TRIES):  # interleaved, so that a change of load slows both alike
        wrong.append(run.client.call(login_request(email, wrong_password)))
        unknown.append(run.client.call(login_request(nobody, wrong_password)))
    _check_refused(run, "a wrong password", wrong[0])
    _check_refused(run, "an unknown email", unknown[0])
    _check_same_refusal(run, wrong[0], unknown)
    _check_same_time(run, wrong, unknown)


def _check_refused(run: CheckRun, subject: str, answer: Answer) -> None:
    if answer.status == 401:
        run.tally.passed(REFUSED, subject)
    else:
        run.tally.failed(REFUSED, subject, f"POST /auth/login with {subject}", "401", answer.excerpt())


def _check_same_refusal(run: CheckRun, wrong: Answer, unknown: list[Answer]) -> None:
    different = next((answer for answer in unknown if _refusal(answer) != _refusal(wrong)), None)
    if different is None:
        run.tally.passed(SAME_REFUSAL, "an unknown email")
        return
    where, expected = "POST /auth/login with an unknown email", f"what a wrong password got: {wrong.excerpt()}"
    run.tally.failed(SAME_REFUSAL, "an unknown email", where, expected, different.excerpt())


def _refusal(answer: Answer) -> tuple[Any, ...]:
    """What two refusals must share: the status, the type, and the body (JSON without its volatile members)."""
    if answer.is_json and isinstance(answer.body, dict):
        body: Any = {name: value for name, value in answer.body.items() if name not in VOLATILE}
    else:
        body = answer.text
    return answer.status, answer.media_type, body


def _check_same_time(run: CheckRun, wrong: list[Answer], unknown: list[Answer]) -> None:
    wrong_time = statistics.median(answer.seconds for answer in wrong)
    unknown_time = statistics.median(answer.seconds for answer in unknown)
    measured = (
        f"medians of {TRIES}: wrong password {wrong_time * 1000:.0f} ms, unknown email {unknown_time * 1000:.0f} ms"
    )
    slower, faster = max(wrong_time, unknown_time), min(wrong_time, unknown_time)
    if slower > SLOWER_RATIO * faster and slower - faster > SLOWER_SECONDS:
        where = "POST /auth/login, a wrong password and an unknown email in turn"
        expected = "about the same time (check a dummy hash for an unknown email)"
        run.tally.failed(SAME_TIME, "an unknown email", where, expected, measured)
    else:
        run.tally.passed(SAME_TIME, "an unknown email", measured)
