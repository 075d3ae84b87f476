"""`make check-crm` (devstack/check_crm) against the reference CRM: whole, it passes every check; broken one way at a
time (tests/broken_crm.py), the report fails exactly the checks that name that breakage, and the exit status is 1.

The servers run in-process on loopback over devstack/demo_data.json, loaded once (its password hashes take a
second) and copied for each test, so that no run sees another's writes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from devstack.check_crm import Inputs, Outcome, Result, run_checks
from devstack.check_crm import list_checks as lists
from devstack.check_crm import login_checks as login
from devstack.check_crm import status_checks as statuses
from devstack.check_crm import token_checks as tokens
from devstack.check_crm import write_checks as writes
from devstack.check_crm.__main__ import main
from devstack.check_crm.checks import all_checks
from devstack.check_crm.contract import load_contract
from devstack.check_crm.results import Check, Section
from devstack.check_crm.run import KINDS, endpoint_check, noun
from devstack.reference_crm.app import ReferenceCrm
from devstack.reference_crm.data import CrmData, load
from tests.broken_crm import BREAKAGES, BrokenCrm
from tests.harness import ROOT

SECRET = "test-check-crm-signing-secret: 64 bytes, so that HS512 is not warned of either"
VENDOR_ID = "demo-vendor"
EMAIL, PASSWORD = "vendor@demo.example", "demo-vendor-1"
CONTRACT = load_contract()
NOT_CREATED = {endpoint_check("deleteOrder"), endpoint_check("deleteFile")}
"""Skipped against any CRM: the checks delete only records they made, and orders and files are never made."""

FAILS: dict[str, set[Check]] = {
    "token-not-checked": set(tokens.CHECKS),
    "expired-token-accepted": {tokens.EXPIRED},
    "unsigned-token-accepted": {tokens.UNSIGNED},
    "any-hs256-key-accepted": {tokens.OTHER_SECRET},
    "any-hmac-accepted": {tokens.OTHER_ALGORITHM},
    "any-aud-accepted": {tokens.OTHER_AUD},
    "missing-record-is-500": {statuses.UNKNOWN_READ, statuses.UNKNOWN_WRITE, writes.DELETED},
    "missing-record-is-200": {statuses.UNKNOWN_READ, writes.DELETED},
    "problems-as-plain-json": {statuses.PROBLEM_TYPE},
    "cursor-ignored": {lists.ENDS, lists.ONCE, lists.FOREIGN_CURSOR},  # a CRM ignoring cursors takes any
    "limit-ignored": {lists.LIMITED},
    "page-repeats-its-last-item": {lists.ONCE},
    "last-page-omits-next-cursor": {endpoint_check(f"list{noun(kind)}s") for kind in KINDS},
    "company-not-stored": {writes.ROUND_TRIP},
    "idempotency-key-ignored": {writes.SAME_KEY, writes.KEY_OTHER_BODY},
    "expect-ignored": {writes.STALE_EXPECT},
    "login-says-unknown-email": {login.SAME_REFUSAL},
    "login-unknown-email-is-404": {login.REFUSED, login.SAME_REFUSAL, statuses.LISTED_STATUS},  # 404 is not login's
    "login-skips-hash-for-unknown-email": set(),  # only warned: timing is too noisy to fail on
}
WARNS = {"login-skips-hash-for-unknown-email": {login.SAME_TIME}}


class Switchboard:
    """The WSGI app of the module's one server: whichever CRM the test at hand started."""

    def __init__(self) -> None:
        self.crm: BrokenCrm | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        assert self.crm is not None, "no CRM started"
        return self.crm(environ, start_response)


@pytest.fixture(scope="module")
def demo_data() -> CrmData:
    return load(ROOT / "devstack" / "demo_data.json")


@pytest.fixture(scope="module")
def switchboard() -> Iterator[tuple[Switchboard, str]]:
    """One loopback server for the module (a server per test would cost its shutdown's half second each), which
    does not log its requests: a run makes 400, and capturing each log line would be most of a test's time."""
    requests_log = logging.getLogger("werkzeug")
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    app = Switchboard()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    requests_log.setLevel(level)


@pytest.fixture
def serve(demo_data: CrmData, switchboard: tuple[Switchboard, str]) -> Callable[[str | None], BrokenCrm]:
    """Serve a reference CRM behind a breakage (None: none) over a fresh copy of the demo data."""
    app, url = switchboard

    def start(breakage: str | None) -> BrokenCrm:
        records = {kind: dict(rows) for kind, rows in demo_data.records.items()}  # models are replaced, never mutated
        data = dataclasses.replace(
            demo_data, records=records, last_numbers=dict(demo_data.last_numbers), lock=threading.RLock()
        )
        app.crm = BrokenCrm(ReferenceCrm(data, SECRET, url), breakage)
        return app.crm

    return start


def inputs(crm: BrokenCrm, read_only: bool = False, with_login: bool = True) -> Inputs:
    email, password = (EMAIL, PASSWORD) if with_login else (None, None)
    return Inputs(crm.crm.url, SECRET, VENDOR_ID, email, password, read_only=read_only)


def environment(crm: BrokenCrm) -> dict[str, str]:
    return {
        "CRM_API_URL": crm.crm.url,
        "CRM_SIGNING_SECRET": SECRET,
        "CHECK_CRM_USER_ID": VENDOR_ID,
        "CHECK_CRM_EMAIL": EMAIL,
        "CHECK_CRM_PASSWORD": PASSWORD,
    }


def having(results: list[Result], outcome: Outcome) -> set[Check]:
    return {result.check for result in results if result.outcome is outcome}


def record_ids(crm: BrokenCrm) -> dict[str, set[str]]:
    return {kind: set(rows) for kind, rows in crm.crm.data.records.items()}


def test_the_reference_crm_passes_every_check_and_keeps_none_of_its_records(
    serve: Callable[[str | None], BrokenCrm], demo_data: CrmData
) -> None:
    crm = serve(None)

    results = run_checks(inputs(crm))

    assert [result.check for result in results] == all_checks(CONTRACT)
    assert having(results, Outcome.FAIL) == set()
    assert having(results, Outcome.SKIP) == NOT_CREATED
    assert having(results, Outcome.WARN) <= {login.SAME_TIME}  # a busy machine may blur 30 ms
    assert record_ids(crm) == {kind: set(rows) for kind, rows in demo_data.records.items()}
    # the server's side of "every endpoint": each operation of the YAML got a request without a token
    tokenless = [CONTRACT.operation_of(seen.method, seen.path) for seen in crm.seen if not seen.with_token]
    assert {operation.operation_id for operation in tokenless if operation} == set(CONTRACT.operations)


def test_read_only_without_a_login_sends_only_gets_and_skips_what_needs_more(
    serve: Callable[[str | None], BrokenCrm],
) -> None:
    crm = serve(None)

    results = run_checks(inputs(crm, read_only=True, with_login=False))

    assert {seen.method for seen in crm.seen} == {"GET", "POST"}
    assert {seen.path for seen in crm.seen if seen.method == "POST"} == {"/auth/login"}
    assert having(results, Outcome.FAIL) == set()
    skipped = having(results, Outcome.SKIP)
    assert {login.RIGHT_PASSWORD, login.SAME_REFUSAL, login.SAME_TIME, statuses.UNKNOWN_WRITE} <= skipped
    assert set(writes.CHECKS) <= skipped
    assert endpoint_check("createCustomer") in skipped
    assert login.REFUSED in having(results, Outcome.PASS)  # an unknown email needs no account


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_breakage_fails_exactly_its_checks(
    serve: Callable[[str | None], BrokenCrm], capsys: pytest.CaptureFixture[str], breakage: str
) -> None:
    crm = serve(breakage)

    status = main([], environment(crm))

    report = capsys.readouterr().out
    failed = {check for check in all_checks(CONTRACT) if f"  FAIL  {check.name}: " in report}
    warned = {check for check in all_checks(CONTRACT) if f"  warn  {check.name}: " in report}
    assert failed == FAILS[breakage]
    assert WARNS.get(breakage, set()) <= warned <= {login.SAME_TIME}
    assert status == (1 if FAILS[breakage] else 0)
    for check in failed:
        assert f"read: {check.reading}" in report
    assert SECRET not in report
    assert PASSWORD not in report


def test_the_command_checks_the_reference_crm_and_names_the_sections(
    serve: Callable[[str | None], BrokenCrm],
) -> None:
    crm = serve(None)
    env = {**os.environ, **environment(crm), "PYTHONPATH": str(ROOT)}

    done = subprocess.run(
        [sys.executable, "-m", "devstack.check_crm"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stdout + done.stderr
    for section in Section:
        assert f"{section.value}  ({section.link})" in done.stdout
    assert " 0 failed" in done.stdout


@pytest.mark.parametrize("missing", ["CRM_API_URL", "CRM_SIGNING_SECRET", "CHECK_CRM_USER_ID"])
def test_a_missing_input_exits_2_naming_it(capsys: pytest.CaptureFixture[str], missing: str) -> None:
    environ = {"CRM_API_URL": "http://127.0.0.1:9", "CRM_SIGNING_SECRET": SECRET, "CHECK_CRM_USER_ID": VENDOR_ID}
    del environ[missing]

    status = main([], environ)

    assert status == 2
    assert f"{missing} is not set" in capsys.readouterr().err


def test_an_unreachable_crm_or_another_secret_exits_2_saying_so(
    serve: Callable[[str | None], BrokenCrm], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    crm = serve(None)

    unreachable = main([], {**environment(crm), "CRM_API_URL": closed})
    unreachable_error = capsys.readouterr().err
    refused = main([], {**environment(crm), "CRM_SIGNING_SECRET": "another-secret-of-32-bytes-or-more!"})
    refused_error = capsys.readouterr().err

    assert (unreachable, refused) == (2, 2)
    assert f"cannot reach CRM_API_URL={closed}" in unreachable_error
    assert "CRM_SIGNING_SECRET or CRM_API_URL differ" in refused_error


def test_every_section_the_checks_name_is_a_heading_of_the_guide() -> None:
    headings = {
        line.removeprefix("## ")
        for line in (ROOT / "docs" / "crm-connector.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }

    assert {check.section.value for check in all_checks(CONTRACT)} <= headings
    assert {check.operation for check in all_checks(CONTRACT) if check.operation} <= set(CONTRACT.operations)
