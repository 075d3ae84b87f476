"""The reference CRM (devstack/reference_crm) against the contract: docs/crm-connector.md and its YAML.

The server runs in-process on a loopback port over devstack/demo_data.json; tokens are minted here with PyJWT the
way the bot signs them. Last, schemathesis holds every answer to docs/crm-connector.yaml.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server

from devstack.reference_crm import app as reference_app
from devstack.reference_crm.app import ReferenceCrm
from devstack.reference_crm.data import CrmData, StoredUser, load
from shared.auth.passwords import hash_password, verify_password
from shared.roles import Role
from tests.harness import ROOT
from tests.openapi_operations import operations_of

SECRET = "test-reference-crm-signing-secret-of-32-bytes-or-more"
ORG = "demo-org"
VENDOR = {"sub": "demo-vendor", "role": "vendor", "org_id": ORG}
EMPLOYEE = {"sub": "demo-emp-ed", "role": "employee", "org_id": ORG}
ALICE = {"sub": "demo-org-user-alice-at-acme.example", "role": "customer", "org_id": ORG}
BOT = {"sub": "bot"}
KINDS = ("customers", "leads", "deals", "issues", "orders", "payments", "files")


@pytest.fixture(scope="module")
def crm() -> Iterator[ReferenceCrm]:
    app = ReferenceCrm(load(ROOT / "devstack" / "demo_data.json"), SECRET, url="")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app
    server.shutdown()


def token(crm: ReferenceCrm, who: dict[str, str], secret: str = SECRET, **claims: Any) -> dict[str, str]:
    now = int(time.time())
    payload = {"iss": "crm-telegram-bot", "aud": crm.url, "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    payload = {key: value for key, value in {**payload, **who, **claims}.items() if value is not None}
    return {"Authorization": "Bearer " + jwt.encode(payload, secret, algorithm="HS256")}


def call(crm: ReferenceCrm, method: str, path: str, who: dict[str, str] = VENDOR, **kwargs: Any) -> requests.Response:
    headers = {**token(crm, who), **kwargs.pop("headers", {})}
    return requests.request(method, crm.url + path, headers=headers, timeout=10, **kwargs)


def org_ids(crm: ReferenceCrm, kind: str, org_id: str = ORG) -> set[str]:
    return {record.id for record in crm.data.records[kind].values() if record.org_id == org_id}


def test_the_command_prints_its_url_and_the_secret_it_was_given() -> None:
    command = [sys.executable, "-m", "devstack.reference_crm", "--port", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRM_SIGNING_SECRET": SECRET}
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip().removeprefix("CRM_API_URL=")
            secret = process.stdout.readline().strip().removeprefix("CRM_SIGNING_SECRET=")
            served = ReferenceCrm(CrmData(), secret, url)  # only to mint a token for that URL
            response = requests.get(url + "/deals", headers=token(served, VENDOR), timeout=10)
        finally:
            process.terminate()

    assert url.startswith("http://127.0.0.1:")
    assert secret == SECRET
    assert response.status_code == 200


# ----- the token -----
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda crm: {}, id="missing"),
        pytest.param(lambda crm: {"Authorization": "Basic dm9yOnB3"}, id="not-bearer"),
        pytest.param(
            lambda crm: token(crm, VENDOR, secret="another-secret-of-at-least-32-bytes!!"), id="bad-signature"
        ),
        pytest.param(
            lambda crm: token(crm, VENDOR, iat=int(time.time()) - 70, exp=int(time.time()) - 10), id="expired"
        ),
        pytest.param(lambda crm: token(crm, VENDOR, aud=crm.url + "/"), id="wrong-aud"),
        pytest.param(lambda crm: token(crm, VENDOR, iss="someone-else"), id="wrong-iss"),
        pytest.param(lambda crm: token(crm, VENDOR, jti=None), id="no-jti"),
        pytest.param(lambda crm: token(crm, VENDOR, exp=int(time.time()) + 3600), id="lives-over-60s"),
        pytest.param(
            lambda crm: {"Authorization": "Bearer " + jwt.encode({**VENDOR, "aud": crm.url}, "", algorithm="none")},
            id="alg-none",
        ),
    ],
)
def test_a_bad_token_is_a_401_problem(crm: ReferenceCrm, headers: Any) -> None:
    response = requests.get(crm.url + "/deals", headers=headers(crm), timeout=10)

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json() == {"type": "about:blank", "title": "Unauthorized", "status": 401}


def test_a_replayed_jti_is_refused_on_a_write(crm: ReferenceCrm) -> None:
    headers = {**token(crm, VENDOR), "Idempotency-Key": f'"{uuid.uuid4().hex}"'}
    lead = {"name": "Replay Once"}

    first = requests.post(crm.url + "/leads", json=lead, headers=headers, timeout=10)
    again = requests.post(crm.url + "/leads", json=lead, headers=headers, timeout=10)

    assert (first.status_code, again.status_code) == (201, 401)


def test_the_token_must_name_a_user_as_stored(crm: ReferenceCrm) -> None:
    assert call(crm, "GET", "/deals", {**EMPLOYEE, "role": "vendor"}).status_code == 403
    assert call(crm, "GET", "/deals", {**VENDOR, "org_id": "demo-org-2"}).status_code == 403
    assert call(crm, "GET", "/deals", BOT).status_code == 403


# ----- login and users -----
def test_login_answers_the_user_or_one_uniform_401(crm: ReferenceCrm) -> None:
    right = call(crm, "POST", "/auth/login", BOT, json={"email": "ed@demo.example", "password": "demo-employee-1"})
    wrong = call(crm, "POST", "/auth/login", BOT, json={"email": "ed@demo.example", "password": "nope"})
    unknown = call(crm, "POST", "/auth/login", BOT, json={"email": "nobody@demo.example", "password": "nope"})

    assert right.status_code == 200
    assert right.json()["id"] == "demo-emp-ed"
    assert "password_hash" not in right.json()
    assert (wrong.status_code, wrong.headers["Content-Type"]) == (401, "application/problem+json")
    assert (unknown.status_code, unknown.content) == (wrong.status_code, wrong.content)


def test_an_inactive_account_or_one_without_a_hash_gets_the_same_401(crm: ReferenceCrm) -> None:
    inactive = StoredUser(
        id="test-inactive", email="gone@demo.example", name="Gone", role=Role.EMPLOYEE, org_id=ORG, is_active=False
    )
    crm.data.users[inactive.id] = inactive.model_copy(update={"password_hash": hash_password("right-one", 1000)})
    crm.data.users["test-no-hash"] = inactive.model_copy(update={"id": "test-no-hash", "email": "nohash@demo.example"})
    answers = [
        call(crm, "POST", "/auth/login", BOT, json={"email": email, "password": password})
        for email, password in [("gone@demo.example", "right-one"), ("nohash@demo.example", ""), ("x@y.z", "")]
    ]

    assert {(answer.status_code, answer.content) for answer in answers} == {(401, answers[2].content)}


def test_an_unknown_email_still_checks_a_hash_of_the_files_cost(
    crm: ReferenceCrm, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []

    def verify(password: str, encoded: str | None) -> bool:
        checked.append(str(encoded))
        return verify_password(password, encoded)

    monkeypatch.setattr(reference_app, "verify_password", verify)
    call(crm, "POST", "/auth/login", BOT, json={"email": "ed@demo.example", "password": "nope"})
    call(crm, "POST", "/auth/login", BOT, json={"email": "nobody@demo.example", "password": "nope"})

    assert [encoded.split("$")[:2] for encoded in checked] == [["pbkdf2_sha256", "100000"]] * 2
    assert checked[0] != checked[1]


def test_users_by_id_and_by_email(crm: ReferenceCrm) -> None:
    assert call(crm, "GET", "/users/demo-emp-ed", BOT).json()["email"] == "ed@demo.example"
    assert call(crm, "GET", "/users?email=ED@demo.example", BOT).json()["items"][0]["id"] == "demo-emp-ed"
    assert call(crm, "GET", "/users?email=nobody@demo.example", BOT).json() == {"items": []}
    assert call(crm, "GET", "/users?email=ed@demo.example", EMPLOYEE).status_code == 403
    assert call(crm, "GET", "/users/demo2-vendor", VENDOR).status_code == 404


# ----- lists -----
@pytest.mark.parametrize("kind", KINDS)
def test_pagination_returns_each_record_of_the_organisation_once_and_ends(crm: ReferenceCrm, kind: str) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 4}
    for _ in range(100):
        page = call(crm, "GET", f"/{kind}", params=params).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    else:
        pytest.fail("next_cursor never ended")

    assert len(seen) == len(set(seen))
    assert set(seen) == org_ids(crm, kind)


def test_a_list_is_newest_first_and_filters_hold(crm: ReferenceCrm) -> None:
    page = call(crm, "GET", "/deals", params={"limit": 50, "stage": ["closed_won", "closed_lost"]}).json()
    keys = [(item["created_at"], item["id"]) for item in page["items"]]

    assert keys == sorted(keys, reverse=True)
    assert {item["stage"] for item in page["items"]} == {"closed_won", "closed_lost"}
    assert call(crm, "GET", "/deals", params={"number": 5}).json()["items"][0]["number"] == 5
    assert call(crm, "GET", "/deals", params={"stage": "won"}).status_code == 422


def test_a_cursor_it_did_not_make_or_for_other_filters_is_a_422(crm: ReferenceCrm) -> None:
    cursor = call(crm, "GET", "/leads", params={"limit": 2}).json()["next_cursor"]

    assert call(crm, "GET", "/leads", params={"cursor": "made-up"}).status_code == 422
    assert call(crm, "GET", "/leads", params={"cursor": cursor, "status": "new"}).status_code == 422
    assert call(crm, "GET", "/leads", params={"cursor": cursor}).status_code == 200


# ----- writes -----
def test_the_same_idempotency_key_twice_makes_one_record(crm: ReferenceCrm) -> None:
    key = {"Idempotency-Key": f'"{uuid.uuid4().hex}"'}
    title = f"Idempotent deal {uuid.uuid4().hex}"
    body = {"title": title, "value": 100, "currency": "EUR", "customer_id": "demo-cust-1"}

    first = call(crm, "POST", "/deals", json=body, headers=key)
    again = call(crm, "POST", "/deals", json=body, headers=key)
    other = call(crm, "POST", "/deals", json={**body, "value": 200}, headers=key)

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 422)
    assert again.json() == first.json()
    assert first.json()["assigned_to"] == "demo-vendor"
    assert [deal for deal in crm.data.records["deals"].values() if getattr(deal, "title", "") == title] != []
    assert sum(getattr(deal, "title", "") == title for deal in crm.data.records["deals"].values()) == 1


def test_concurrent_creates_share_neither_a_key_nor_a_number(crm: ReferenceCrm) -> None:
    same_key = {"Idempotency-Key": f'"{uuid.uuid4().hex}"'}
    body = {"name": f"Concurrent {uuid.uuid4().hex}"}

    def create(headers: dict[str, str]) -> requests.Response:
        return call(crm, "POST", "/leads", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=8) as pool:
        retried = list(pool.map(create, [same_key] * 8))
        distinct = list(pool.map(create, [{"Idempotency-Key": uuid.uuid4().hex} for _ in range(8)]))

    assert sorted(answer.status_code for answer in retried) == [200] * 7 + [201]
    assert len({answer.json()["id"] for answer in retried}) == 1
    numbers = [answer.json()["number"] for answer in distinct]
    assert len(set(numbers)) == 8


def test_a_patch_whose_expect_no_longer_holds_is_a_412_and_writes_nothing(crm: ReferenceCrm) -> None:
    deal = call(crm, "GET", "/deals", params={"number": 1}).json()["items"][0]
    stale = {"set": {"stage": "closed_lost"}, "expect": {"stage": "something it never was"}}
    fresh = {"set": {"stage": "closed_lost"}, "expect": {"stage": deal["stage"]}}

    refused = call(crm, "PATCH", f"/deals/{deal['id']}", json=stale)
    assert refused.status_code in (412, 422)  # a stage outside the enum may also be refused as a value
    refused = call(crm, "PATCH", f"/deals/{deal['id']}", json={**stale, "expect": {"stage": "closed_won"}})
    assert refused.status_code == 412
    assert refused.json()["current"]["stage"] == deal["stage"]
    assert crm.data.records["deals"][deal["id"]].stage == deal["stage"]  # type: ignore[attr-defined]

    written = call(crm, "PATCH", f"/deals/{deal['id']}", json=fresh)
    assert (written.status_code, written.json()["stage"]) == (200, "closed_lost")


def test_an_employee_changes_only_what_is_assigned_to_them_and_deletes_nothing(crm: ReferenceCrm) -> None:
    theirs = call(crm, "GET", "/leads", params={"assigned_to": "demo-emp-ed", "limit": 1}).json()["items"][0]
    not_theirs = call(crm, "GET", "/leads", params={"assigned_to": "demo-emp-eva", "limit": 1}).json()["items"][0]
    change = {"set": {"status": "contacted"}, "expect": {"status": None}}

    assert call(crm, "PATCH", f"/leads/{not_theirs['id']}", EMPLOYEE, json=change).status_code == 403
    change["expect"] = {"status": theirs["status"], "assigned_to": "demo-emp-ed"}
    assert call(crm, "PATCH", f"/leads/{theirs['id']}", EMPLOYEE, json=change).status_code == 200
    assert call(crm, "DELETE", f"/leads/{theirs['id']}", EMPLOYEE).status_code == 403


def test_delete_is_the_vendors_and_a_second_delete_is_a_404(crm: ReferenceCrm) -> None:
    created = call(crm, "POST", "/leads", json={"name": "Short-lived"}, headers={"Idempotency-Key": uuid.uuid4().hex})

    assert call(crm, "DELETE", f"/leads/{created.json()['id']}").status_code == 204
    assert call(crm, "DELETE", f"/leads/{created.json()['id']}").status_code == 404


# ----- scoping -----
@pytest.mark.parametrize("kind", KINDS)
def test_another_organisations_record_is_a_404(crm: ReferenceCrm, kind: str) -> None:
    other = sorted(org_ids(crm, kind, "demo-org-2"))[0]

    assert call(crm, "GET", f"/{kind}/{other}").status_code == 404
    assert call(crm, "DELETE", f"/{kind}/{other}").status_code == 404
    assert other not in {item["id"] for item in call(crm, "GET", f"/{kind}", params={"id": other}).json()["items"]}


def test_a_customer_sees_only_their_own_orders(crm: ReferenceCrm) -> None:
    page = call(crm, "GET", "/orders", ALICE, params={"limit": 50}).json()
    own = {r.id for r in crm.data.records["orders"].values() if getattr(r, "customer_id", None) == "demo-cust-1"}
    someone_elses = next(r.id for r in crm.data.records["orders"].values() if r.org_id == ORG and r.id not in own)

    assert {item["id"] for item in page["items"]} == own
    assert call(crm, "GET", f"/orders/{someone_elses}", ALICE).status_code == 404
    assert call(crm, "GET", "/deals", ALICE).status_code == 403
    assert call(crm, "GET", "/stats", ALICE, params={"since": "2026-01-01T00:00:00Z"}).status_code == 403


def test_an_employee_sees_orders_of_their_customers_only(crm: ReferenceCrm) -> None:
    theirs = {r.id for r in crm.data.records["customers"].values() if getattr(r, "assigned_to", None) == "demo-emp-ed"}
    page = call(crm, "GET", "/orders", EMPLOYEE, params={"limit": 50}).json()

    assert page["items"]
    assert {item["customer_id"] for item in page["items"]} <= theirs


def test_stats_count_every_value_of_the_organisation(crm: ReferenceCrm) -> None:
    params = {"since": "2000-01-01T00:00:00Z", "before": "2100-01-01T00:00:00Z"}
    stats = call(crm, "GET", "/stats", params=params).json()

    assert sum(stats["deals_by_stage"].values()) == len(org_ids(crm, "deals"))
    assert stats["period"]["new_leads"] == len(org_ids(crm, "leads"))


# ----- the schema -----
SCHEMA, OPERATIONS = operations_of("crm-connector.yaml")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class Minted(requests.auth.AuthBase):
    """A fresh vendor token on every request, as the bot sends (a write's jti is never reused)."""

    def __init__(self, crm: ReferenceCrm) -> None:
        self.crm = crm

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(token(self.crm, VENDOR))
        return request


@pytest.fixture(scope="module")
def fuzzed_server() -> Iterator[tuple[ReferenceCrm, CrmData]]:
    app = ReferenceCrm(load(ROOT / "devstack" / "demo_data.json"), SECRET, url="")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield app, app.data
    server.shutdown()


@pytest.fixture
def fuzzed_crm(fuzzed_server: tuple[ReferenceCrm, CrmData]) -> ReferenceCrm:
    """A server of its own, with the file's data afresh for each operation: the vendor's generated deletes and
    changes must neither move the other tests' data nor empty it for the operations fuzzed after them."""
    app, pristine = fuzzed_server
    records = {kind: dict(rows) for kind, rows in pristine.records.items()}  # models are replaced, never mutated
    app.data = dataclasses.replace(pristine, records=records, last_numbers=dict(pristine.last_numbers))
    return app


def _with_real_ids(crm: ReferenceCrm, case: Case[Any], pick: int | None) -> None:
    """Point a generated case at records that exist (when `pick` says so), so more than the 404s are checked."""
    kind = case.operation.path.split("/")[1]
    if pick is None or kind not in (*crm.data.records, "users"):
        return
    if "{id}" in case.operation.path:
        ids = sorted(crm.data.users if kind == "users" else org_ids(crm, kind)) or ["none"]
        case.path_parameters = {**(case.path_parameters or {}), "id": ids[pick % len(ids)]}
    if case.operation.path == "/payments" and isinstance(case.body, dict):
        orders = sorted(org_ids(crm, "orders")) or ["none"]
        case.body = {**case.body, "order_id": orders[pick % len(orders)], "currency": "EUR"}
        case.body.pop("customer_id", None)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_answer_is_as_the_schema_says(fuzzed_crm: ReferenceCrm, label: str, mode: GenerationMode) -> None:
    operation = OPERATIONS[label]

    @settings(
        max_examples=8,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=operation.as_strategy(generation_mode=mode), pick=st.none() | st.integers(0, 1000))
    def check(case: Case[Any], pick: int | None) -> None:
        _with_real_ids(fuzzed_crm, case, pick)
        response = case.call(base_url=fuzzed_crm.url, auth=Minted(fuzzed_crm))
        case.validate_response(response, checks=CHECKS)

    check()
