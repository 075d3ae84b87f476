"""The token: every endpoint refuses, with a 401, a request whose token the CRM must not accept.

Each bad token is sent on a well-formed request of every operation (the writes unless --read-only), so that a CRM
that checks tokens in one view but not another is caught. Changes and deletes go to an unknown id, and a create
that is wrongly accepted is deleted again at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from devstack.check_crm.client import BOT, CrmClient, Identity, Request
from devstack.check_crm.contract import Operation
from devstack.check_crm.endpoint_checks import statistics_params
from devstack.check_crm.login_checks import login_request
from devstack.check_crm.results import Check, Section
from devstack.check_crm.run import KINDS, MARKER, CheckRun, record_path
from devstack.check_crm.write_values import change_of, new_record

NO_TOKEN = Check("a request without a token is a 401", Section.TOKEN)
NOT_A_JWT = Check("a token that is not a JWT is a 401", Section.TOKEN)
OTHER_SECRET = Check("a token signed with another secret is a 401", Section.TOKEN)
UNSIGNED = Check("an unsigned token (alg none) is a 401", Section.TOKEN)
OTHER_ALGORITHM = Check("a token signed with HS512 is a 401 (HS256 only)", Section.TOKEN)
EXPIRED = Check("an expired token is a 401", Section.TOKEN)
OTHER_AUD = Check("a token for another aud is a 401", Section.TOKEN)

ANOTHER_KEY = f"{MARKER}: not the CRM's signing secret, though as long as one"
ANOTHER_AUD = "https://check-crm.invalid/another-crm"
EXPIRED_SECONDS_AGO = 240
"""Far beyond the 'few seconds of leeway at most' the contract allows."""


@dataclass(frozen=True)
class BadToken:
    check: Check
    authorization: Callable[[CrmClient, Identity], str | None]
    """The Authorization header to send (None: none)."""


def _expired(client: CrmClient, identity: Identity) -> str:
    now = int(time.time())
    return "Bearer " + client.mint(identity, iat=now - EXPIRED_SECONDS_AGO - 60, exp=now - EXPIRED_SECONDS_AGO)


BAD_TOKENS = [
    BadToken(NO_TOKEN, lambda client, who: None),
    BadToken(NOT_A_JWT, lambda client, who: f"Bearer {MARKER}"),
    BadToken(OTHER_SECRET, lambda client, who: "Bearer " + client.mint(who, key=ANOTHER_KEY)),
    BadToken(UNSIGNED, lambda client, who: "Bearer " + client.mint(who, key="", algorithm="none")),
    BadToken(OTHER_ALGORITHM, lambda client, who: "Bearer " + client.mint(who, algorithm="HS512")),
    BadToken(EXPIRED, _expired),
    BadToken(OTHER_AUD, lambda client, who: "Bearer " + client.mint(who, aud=ANOTHER_AUD)),
]
CHECKS = [bad.check for bad in BAD_TOKENS]


def check_tokens(run: CheckRun) -> None:
    samples = [sample for operation in run.contract.operations.values() if (sample := _sample(run, operation))]
    sent = [
        (bad.check, operation_id, request, bad.authorization(run.client, request.identity))
        for bad in BAD_TOKENS
        for operation_id, request in samples
    ]
    answers = run.client.send_all([(request, authorization) for _, _, request, authorization in sent])
    for (check, operation_id, request, _), answer in zip(sent, answers, strict=True):
        if request.method == "POST" and request.path != "/auth/login":
            run.note_made(request.path.strip("/"), answer)
        if answer.status == 401:
            run.tally.passed(check, operation_id)
        else:
            run.tally.failed(check, operation_id, request.describe(), "401", answer.excerpt())


def _sample(run: CheckRun, operation: Operation) -> tuple[str, Request] | None:
    """A well-formed request of `operation` as the bot would send it, or None (a write when read-only)."""
    if operation.method not in ("GET", "HEAD") and operation.operation_id != "login" and run.inputs.read_only:
        return None
    request = _request(run, operation)
    return (operation.operation_id, request) if request is not None else None


def _request(run: CheckRun, operation: Operation) -> Request | None:
    nobody = f"{MARKER}-nobody@example.com"
    email, password = run.inputs.email or nobody, run.inputs.password or f"{MARKER}-wrong"
    special = {
        "login": login_request(email, password),
        "findUserByEmail": Request("GET", "/users", BOT, params={"email": str(run.user.get("email"))}),
        "getUser": Request("GET", f"/users/{quote(run.vendor.sub, safe='')}", BOT),
        "getStatistics": Request("GET", "/stats", run.vendor, params=statistics_params()),
    }
    if operation.operation_id in special:
        return special[operation.operation_id]
    kind, _, with_id = operation.path.strip("/").partition("/")
    if kind not in KINDS:
        return None
    listed = run.listed.get(kind) or [{"id": run.unknown_id}]
    if operation.method == "GET":
        if with_id:
            return Request("GET", record_path(kind, str(listed[0]["id"])), run.vendor)
        return Request("GET", f"/{kind}", run.vendor, params={"limit": 1})
    if operation.method == "POST":
        fields = new_record(run, kind)
        key = f"{MARKER}-{uuid.uuid4().hex}"
        return Request("POST", f"/{kind}", run.vendor, body=fields, idempotency_key=key) if fields else None
    if operation.method == "PATCH":
        change = change_of(run, kind, {})
        return Request("PATCH", record_path(kind, run.unknown_id), run.vendor, body=change.body(change.current))
    return Request(operation.method, record_path(kind, run.unknown_id), run.vendor)
