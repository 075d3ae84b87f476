"""shared/crm_http against the reference CRM (devstack/reference_crm) and against a loopback server that misbehaves
on cue: timeouts, 5xx, HTML, 429s, answers that are not the contract's. What each server saw is what is asserted."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from werkzeug.serving import make_server

from devstack.reference_crm.app import ReferenceCrm
from devstack.reference_crm.data import load
from shared.crm_http import (
    BOT,
    ISSUER,
    TOKEN_SECONDS,
    CrmBusy,
    CrmChanged,
    CrmForbidden,
    CrmHttp,
    CrmInvalid,
    CrmMisconfigured,
    CrmNotFound,
    CrmUnavailable,
    Principal,
    sign_token,
)
from tests.harness import ROOT

SECRET = "test-crm-http-signing-secret-of-32-bytes-or-more"
VENDOR = Principal("demo-vendor", "vendor", "demo-org")
TIMEOUT = 0.5
PASSWORD = "demo-employee-1"


def claims_of(authorization: str, audience: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        authorization.removeprefix("Bearer "), SECRET, algorithms=["HS256"], audience=audience, issuer=ISSUER
    )
    return claims


# ----- the reference CRM -----
@dataclass
class Reference:
    """The reference CRM on loopback, the Authorization headers it received, and a client pointed at it."""

    crm: ReferenceCrm
    authorizations: list[str]
    client: CrmHttp


@pytest.fixture(scope="module")
def reference() -> Iterator[Reference]:
    crm = ReferenceCrm(load(ROOT / "devstack" / "demo_data.json"), SECRET, url="")
    authorizations: list[str] = []

    def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        authorizations.append(environ.get("HTTP_AUTHORIZATION", ""))
        return crm(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, threaded=True)
    crm.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The trailing slash is stripped: the CRM accepts only its URL exactly as `aud`.
    yield Reference(crm, authorizations, CrmHttp(crm.url + "/", SECRET, timeout_seconds=10))
    server.shutdown()


def test_reads_a_user_as_the_bot_and_a_list_with_its_filters(reference: Reference) -> None:
    user = reference.client.read("/users/demo-emp-ed", BOT)
    page = reference.client.read("/deals", VENDOR, [("stage", "closed_won"), ("stage", "closed_lost"), ("limit", "50")])

    assert user["email"] == "ed@demo.example"
    assert page["items"]
    assert {item["stage"] for item in page["items"]} == {"closed_won", "closed_lost"}


def test_a_missing_record_is_not_found_and_a_refusal_forbidden(reference: Reference) -> None:
    with pytest.raises(CrmNotFound) as missing:
        reference.client.read("/deals/no-such-deal", VENDOR)
    with pytest.raises(CrmForbidden) as refused:
        reference.client.read("/deals", BOT)

    assert (missing.value.status, refused.value.status) == (404, 403)
    assert refused.value.detail == "records are read and written for a user: sub must be a CRM user id"


def test_login_answers_the_user_or_none(reference: Reference) -> None:
    user = reference.client.login("ed@demo.example", PASSWORD)

    assert user is not None
    assert user["id"] == "demo-emp-ed"
    assert reference.client.login("ed@demo.example", "not-the-password") is None


def test_the_same_idempotency_key_twice_answers_the_same_record(reference: Reference) -> None:
    title = f"Once {uuid.uuid4().hex}"
    body = {"title": title, "value": 100, "currency": "EUR", "customer_id": "demo-cust-1"}
    key = uuid.uuid4().hex

    first = reference.client.create("/deals", VENDOR, body, key)
    again = reference.client.create("/deals", VENDOR, body, key)  # the CRM's 200: made before, nothing written

    assert again == first
    assert sum(getattr(deal, "title", "") == title for deal in reference.crm.data.records["deals"].values()) == 1


def test_a_refused_value_is_invalid_with_the_fields(reference: Reference) -> None:
    with pytest.raises(CrmInvalid) as refused:
        reference.client.create("/deals", VENDOR, {"value": 1}, uuid.uuid4().hex)

    assert refused.value.status == 422
    assert [error["field"] for error in refused.value.errors] == ["title"]


def test_an_update_whose_expect_no_longer_holds_is_changed_with_the_current_record(reference: Reference) -> None:
    deal = reference.client.read("/deals", VENDOR, [("number", "2")])["items"][0]
    wrong_stage = "closed_lost" if deal["stage"] != "closed_lost" else "closed_won"
    change = {"set": {"stage": wrong_stage}, "expect": {"stage": wrong_stage}}

    with pytest.raises(CrmChanged) as changed:
        reference.client.update(f"/deals/{deal['id']}", VENDOR, change)

    assert changed.value.current is not None
    assert changed.value.current["stage"] == deal["stage"]


def test_a_second_delete_is_not_found(reference: Reference) -> None:
    lead = reference.client.create("/leads", VENDOR, {"name": "Short-lived"}, uuid.uuid4().hex)

    reference.client.delete(f"/leads/{lead['id']}", VENDOR)
    with pytest.raises(CrmNotFound):
        reference.client.delete(f"/leads/{lead['id']}", VENDOR)


def test_another_secret_is_misconfigured_and_logged_once(
    reference: Reference, caplog: pytest.LogCaptureFixture
) -> None:
    client = CrmHttp(reference.crm.url, "another-secret-of-at-least-32-bytes!!", timeout_seconds=10)

    with pytest.raises(CrmMisconfigured) as refused:
        client.read("/users/demo-emp-ed", BOT)

    assert refused.value.status == 401
    assert [record.levelno for record in caplog.records if record.name == "shared.crm_http.client"] == [logging.ERROR]


def test_each_request_carries_a_token_of_its_own(reference: Reference) -> None:
    before = len(reference.authorizations)
    for _ in range(3):
        reference.client.read("/deals", VENDOR, [("limit", "1")])

    seen = [claims_of(header, reference.crm.url) for header in reference.authorizations[before:]]
    assert len({claims["jti"] for claims in seen}) == 3
    assert {(claims["sub"], claims["role"], claims["org_id"]) for claims in seen} == {
        ("demo-vendor", "vendor", "demo-org")
    }


def test_a_token_has_the_contracts_claims() -> None:
    now = time.time()
    audience = "https://crm.example.com/bot-api"

    user = claims_of(sign_token(SECRET, audience, VENDOR, now), audience)
    bot = claims_of(sign_token(SECRET, audience, BOT, now), audience)

    assert jwt.get_unverified_header(sign_token(SECRET, audience, BOT, now))["alg"] == "HS256"
    assert {name: user[name] for name in ("iss", "aud", "sub", "role", "org_id", "iat", "exp")} == {
        "iss": "crm-telegram-bot",
        "aud": audience,
        "sub": "demo-vendor",
        "role": "vendor",
        "org_id": "demo-org",
        "iat": int(now),
        "exp": int(now) + TOKEN_SECONDS,
    }
    assert sorted(bot) == ["aud", "exp", "iat", "iss", "jti", "sub"]
    assert bot["sub"] == "bot"
    assert bot["jti"] != user["jti"]


# ----- a CRM that misbehaves -----
@dataclass(frozen=True)
class Scripted:
    """One answer of the misbehaving CRM, given after `delay` seconds."""

    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def problem(status: int, **extra: Any) -> Scripted:
    body = json.dumps({"type": "about:blank", "title": "Error", "status": status, **extra}).encode()
    return Scripted(status, body, "application/problem+json")


BAD_GATEWAY_PAGE = Scripted(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
SLOW = Scripted(200, delay=TIMEOUT * 2)


class MisbehavingCrm:
    """A loopback server answering each request with the next answer of its script (the last one repeats)."""

    def __init__(self) -> None:
        self.script: list[Scripted] = [Scripted()]
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def answer(self, *script: Scripted) -> None:
        with self._lock:
            self.script, self.received = list(script), []

    def serve(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, received: Received) -> Scripted:
        with self._lock:
            self.received.append(received)
            return self.script[min(len(self.received), len(self.script)) - 1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted = crm._next(Received(self.command, self.path, dict(self.headers), body))
                time.sleep(scripted.delay)
                try:
                    self.send_response(scripted.status)
                    self.send_header("Content-Type", scripted.content_type)
                    self.send_header("Content-Length", str(len(scripted.body)))
                    for name, value in scripted.headers:
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(scripted.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as it should

            do_GET = do_POST = do_PATCH = do_DELETE = answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture(scope="module")
def misbehaving_server() -> Iterator[MisbehavingCrm]:
    server = MisbehavingCrm()
    server.serve()
    yield server
    server.stop()


@pytest.fixture
def misbehaving(misbehaving_server: MisbehavingCrm) -> MisbehavingCrm:
    misbehaving_server.answer(Scripted())
    return misbehaving_server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(misbehaving: MisbehavingCrm, sleeps: list[float]) -> CrmHttp:
    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    return CrmHttp(misbehaving.url, SECRET, timeout_seconds=TIMEOUT, sleep=sleep)


def test_a_read_is_tried_again_after_faults_until_it_is_answered(misbehaving: MisbehavingCrm) -> None:
    sleeps: list[float] = []
    client = CrmHttp(misbehaving.url, SECRET, timeout_seconds=5, sleep=lambda seconds: sleeps.append(seconds))
    misbehaving.answer(problem(500), BAD_GATEWAY_PAGE, Scripted(body=b'{"id": "d-1"}'))

    assert client.read("/deals/d-1", VENDOR) == {"id": "d-1"}
    assert len(misbehaving.received) == 3
    assert 0.1 <= sleeps[0] <= 0.2 <= sleeps[1] <= 0.3  # 0.1 s doubling, plus up to 0.1 s of jitter
    jtis = {claims_of(received.headers["Authorization"], misbehaving.url)["jti"] for received in misbehaving.received}
    assert len(jtis) == 3


def test_a_read_waits_a_retry_after_that_fits(
    misbehaving: MisbehavingCrm, client: CrmHttp, sleeps: list[float]
) -> None:
    misbehaving.answer(Scripted(429, headers=(("Retry-After", "0"),)), Scripted(body=b"[]"))

    assert client.read("/deals", VENDOR) == []  # a read may answer any JSON
    assert (len(misbehaving.received), sleeps) == (2, [0.0])


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_beyond_the_deadline_is_busy_at_once(
    misbehaving: MisbehavingCrm, client: CrmHttp, sleeps: list[float], status: int
) -> None:
    misbehaving.answer(Scripted(status, headers=(("Retry-After", "3600"),)))
    started = time.monotonic()

    with pytest.raises(CrmBusy) as busy:
        client.read("/deals", VENDOR)

    assert (busy.value.status, busy.value.retry_after) == (status, 3600)
    assert (len(misbehaving.received), sleeps) == (1, [])
    assert time.monotonic() - started < TIMEOUT


@pytest.mark.parametrize(
    "answer",
    [problem(500), BAD_GATEWAY_PAGE, Scripted(body=b"{not json"), Scripted(204, b"")],
    ids=["500", "502-html", "invalid-json", "no-body"],
)
def test_a_read_gives_up_when_its_deadline_has_passed(
    misbehaving: MisbehavingCrm, client: CrmHttp, answer: Scripted
) -> None:
    misbehaving.answer(answer)
    started = time.monotonic()

    with pytest.raises(CrmUnavailable) as unavailable:
        client.read("/deals", VENDOR)

    assert not isinstance(unavailable.value, CrmBusy)
    assert 2 <= len(misbehaving.received) <= 4  # waits of 0.1-0.2 s, 0.2-0.3 s, 0.4-0.5 s: at most two fit
    assert time.monotonic() - started < TIMEOUT + 0.5


def test_a_read_that_is_not_answered_in_time_uses_the_whole_deadline_once(
    misbehaving: MisbehavingCrm, client: CrmHttp
) -> None:
    misbehaving.answer(SLOW)
    started = time.monotonic()

    with pytest.raises(CrmUnavailable) as unavailable:
        client.read("/deals", VENDOR)

    assert unavailable.value.status is None
    assert len(misbehaving.received) == 1
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 0.5


@pytest.mark.parametrize(
    "answer",
    [problem(404), problem(403), problem(401), problem(412), problem(422)],
    ids=["404", "403", "401", "412", "422"],
)
def test_a_read_is_not_tried_again_after_an_answer(
    misbehaving: MisbehavingCrm, client: CrmHttp, answer: Scripted
) -> None:
    misbehaving.answer(answer)

    with pytest.raises((CrmNotFound, CrmForbidden, CrmMisconfigured, CrmChanged, CrmInvalid)) as refused:
        client.read("/deals/d-1", VENDOR)

    assert refused.value.status == answer.status
    assert len(misbehaving.received) == 1


def test_a_redirect_is_not_followed(misbehaving: MisbehavingCrm, client: CrmHttp) -> None:
    misbehaving.answer(Scripted(302, b"", "text/plain", (("Location", "/elsewhere"),)))

    with pytest.raises(CrmUnavailable):
        client.delete("/deals/d-1", VENDOR)

    assert [received.path for received in misbehaving.received] == ["/deals/d-1"]


@pytest.mark.parametrize("answer", [problem(500), BAD_GATEWAY_PAGE, SLOW], ids=["500", "502-html", "slow"])
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_a_change_or_delete_is_never_tried_again(
    misbehaving: MisbehavingCrm, client: CrmHttp, answer: Scripted, method: str
) -> None:
    misbehaving.answer(answer)
    change = {"set": {"stage": "closed_won"}, "expect": {"stage": "new"}}
    write: Callable[[], object] = {
        "PATCH": lambda: client.update("/deals/d-1", VENDOR, change),
        "DELETE": lambda: client.delete("/deals/d-1", VENDOR),
    }[method]

    with pytest.raises(CrmUnavailable):
        write()

    assert [received.method for received in misbehaving.received] == [method]


def test_a_create_is_tried_once_more_with_the_same_key(misbehaving: MisbehavingCrm, client: CrmHttp) -> None:
    misbehaving.answer(problem(500))

    with pytest.raises(CrmUnavailable):
        client.create("/leads", VENDOR, {"name": "Ada"}, "lead-key-1")

    assert [received.headers["Idempotency-Key"] for received in misbehaving.received] == ['"lead-key-1"'] * 2
    assert [json.loads(received.body) for received in misbehaving.received] == [{"name": "Ada"}] * 2
    jtis = {claims_of(received.headers["Authorization"], misbehaving.url)["jti"] for received in misbehaving.received}
    assert len(jtis) == 2


def test_a_create_still_running_is_asked_again_and_answered(misbehaving: MisbehavingCrm, client: CrmHttp) -> None:
    misbehaving.answer(problem(409), Scripted(201, b'{"id": "l-1", "name": "Ada"}'))

    assert client.create("/leads", VENDOR, {"name": "Ada"}, "lead-key-2") == {"id": "l-1", "name": "Ada"}
    assert len(misbehaving.received) == 2


def test_a_create_refused_is_not_tried_again(misbehaving: MisbehavingCrm, client: CrmHttp) -> None:
    misbehaving.answer(problem(422, detail="name: required", errors=[{"field": "name", "message": "required"}]))

    with pytest.raises(CrmInvalid) as refused:
        client.create("/leads", VENDOR, {}, "lead-key-3")

    assert (refused.value.detail, refused.value.errors) == (
        "name: required",
        [{"field": "name", "message": "required"}],
    )
    assert len(misbehaving.received) == 1


def test_a_write_answered_with_a_list_is_not_the_contract(misbehaving: MisbehavingCrm, client: CrmHttp) -> None:
    misbehaving.answer(Scripted(body=b'[{"id": "d-1"}]'))

    with pytest.raises(CrmUnavailable, match="not JSON the contract allows"):
        client.update("/deals/d-1", VENDOR, {"set": {}, "expect": {}})
    assert len(misbehaving.received) == 1
    with pytest.raises(CrmUnavailable, match="not JSON the contract allows"):
        client.create("/deals", VENDOR, {"title": "T"}, "deal-key-1")
    assert len(misbehaving.received) == 1 + 2


def test_a_key_outside_the_contracts_pattern_is_a_programming_error(client: CrmHttp) -> None:
    with pytest.raises(ValueError, match="Idempotency-Key"):
        client.create("/leads", VENDOR, {"name": "Ada"}, 'with "quotes"')


def test_a_password_is_never_logged_nor_in_an_error(
    reference: Reference, misbehaving: MisbehavingCrm, client: CrmHttp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[Exception] = []
    reference.client.login("ed@demo.example", PASSWORD)
    reference.client.login("ed@demo.example", PASSWORD + "-wrong")
    echoing = [
        problem(500, detail=f"could not check {PASSWORD}"),
        problem(422, detail=f"password: {PASSWORD} is too short", errors=[{"field": "password", "message": PASSWORD}]),
        Scripted(200, PASSWORD.encode(), "text/plain"),
        SLOW,
    ]
    for answer in echoing:
        misbehaving.answer(answer)
        with pytest.raises((CrmUnavailable, CrmInvalid)) as failed:
            client.login("ed@demo.example", PASSWORD)
        errors.append(failed.value)
        assert len(misbehaving.received) == 1  # a login is tried once
        assert json.loads(misbehaving.received[0].body)["password"] == PASSWORD

    assert caplog.records
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    assert all(PASSWORD not in f"{error} {error!r} {vars(error)}" for error in errors)
