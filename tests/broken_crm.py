"""The reference CRM broken on purpose, one way at a time, for tests/test_check_crm.py.

Each breakage is a way a CRM's implementation falls short of docs/crm-connector.md, built in front of the reference
CRM (devstack/reference_crm) as a WSGI app: it changes the request the reference answers, or the answer, or the
data behind it, and nothing else, so that the check must name exactly that shortfall.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

import jwt
from jwt.types import Options
from werkzeug.wrappers import Request, Response

from devstack.reference_crm.app import ISSUER, Problem, ReferenceCrm
from devstack.reference_crm.data import KINDS


@dataclass(frozen=True)
class Seen:
    """A request as it reached the server."""

    method: str
    path: str
    with_token: bool


class BrokenCrm:
    """A WSGI app: the reference CRM `crm` behind the breakage named `breakage` (None: not broken).

    `seen` lists every request that reached it, so a test can tell what the check sent, from the server's side.
    """

    def __init__(self, crm: ReferenceCrm, breakage: str | None = None) -> None:
        self.crm = crm
        self.breakage = BREAKAGES[breakage] if breakage else None
        self.seen: list[Seen] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        self.seen.append(Seen(request.method, request.path, "Authorization" in request.headers))
        response = self.breakage(self.crm, request) if self.breakage else self.crm.answer(request)
        return response(environ, start_response)


Breakage = Callable[[ReferenceCrm, Request], Response]


# ----- the token -----
def _claims(
    crm: ReferenceCrm, request: Request, options: Options | None = None, algorithms: tuple[str, ...] = ("HS256",)
) -> Any:
    """The token's claims, checked as the reference checks them but for what `options` turn off; None if refused."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        return jwt.decode(
            token, crm.secret, algorithms=list(algorithms), audience=crm.url, issuer=ISSUER, options=options
        )
    except jwt.InvalidTokenError:
        return None


def _header(request: Request) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(request.headers.get("Authorization", "").removeprefix("Bearer "))
    except jwt.InvalidTokenError:
        return {}


def _as_if_valid(crm: ReferenceCrm, request: Request, claims: dict[str, Any] | None) -> Response:
    """Answer with the token's claims as if it were a good one (when `claims` is None: as the reference would)."""
    if claims is None:
        return crm.answer(request)
    now = int(time.time())
    reminted = {**claims, "iss": ISSUER, "aud": crm.url, "iat": now, "exp": now + 60}
    reminted["jti"] = claims.get("jti") or uuid.uuid4().hex  # a replay is still one
    token = jwt.encode(reminted, crm.secret, algorithm="HS256")
    return crm.answer(_rebuilt(request, headers={"Authorization": f"Bearer {token}"}))


SIGNATURE_UNCHECKED: Options = {"verify_signature": False, "verify_exp": True, "verify_aud": True, "verify_iss": True}


def token_not_checked(crm: ReferenceCrm, request: Request) -> Response:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        claims = {"sub": "bot"}
    return _as_if_valid(crm, request, claims)


def expired_token_accepted(crm: ReferenceCrm, request: Request) -> Response:
    return _as_if_valid(crm, request, _claims(crm, request, {"verify_exp": False}))


def unsigned_token_accepted(crm: ReferenceCrm, request: Request) -> Response:
    unsigned = _header(request).get("alg") == "none"
    return _as_if_valid(crm, request, _claims(crm, request, SIGNATURE_UNCHECKED) if unsigned else None)


def any_hs256_key_accepted(crm: ReferenceCrm, request: Request) -> Response:
    hs256 = _header(request).get("alg") == "HS256"
    return _as_if_valid(crm, request, _claims(crm, request, SIGNATURE_UNCHECKED) if hs256 else None)


def any_hmac_accepted(crm: ReferenceCrm, request: Request) -> Response:
    return _as_if_valid(crm, request, _claims(crm, request, algorithms=("HS256", "HS384", "HS512")))


def any_aud_accepted(crm: ReferenceCrm, request: Request) -> Response:
    return _as_if_valid(crm, request, _claims(crm, request, {"verify_aud": False}))


# ----- statuses -----
def _record_path(request: Request) -> bool:
    kind, _, record_id = request.path.strip("/").partition("/")
    return kind in KINDS and bool(record_id)


def missing_record_is_500(crm: ReferenceCrm, request: Request) -> Response:
    response = crm.answer(request)
    if response.status_code == 404 and _record_path(request):
        return Problem(500, "Customer.DoesNotExist").response()
    return response


def missing_record_is_200(crm: ReferenceCrm, request: Request) -> Response:
    response = crm.answer(request)
    if response.status_code == 404 and request.method == "GET" and _record_path(request):
        return Response("{}", 200, mimetype="application/json")
    return response


def problems_as_plain_json(crm: ReferenceCrm, request: Request) -> Response:
    response = crm.answer(request)
    if response.status_code >= 400:
        response.headers["Content-Type"] = "application/json"
    return response


# ----- pagination -----
def _is_list(request: Request) -> bool:
    return request.method == "GET" and request.path.strip("/") in KINDS


def cursor_ignored(crm: ReferenceCrm, request: Request) -> Response:
    """Every page is the first one, with a next_cursor again: following it never ends."""
    if not _is_list(request):
        return crm.answer(request)
    return crm.answer(_rebuilt(request, query=[item for item in _query(request) if item[0] != "cursor"]))


def limit_ignored(crm: ReferenceCrm, request: Request) -> Response:
    if not _is_list(request):
        return crm.answer(request)
    return crm.answer(_rebuilt(request, query=[item for item in _query(request) if item[0] != "limit"]))


def page_repeats_its_last_item(crm: ReferenceCrm, request: Request) -> Response:
    """next_cursor continues after the page's next-to-last item (a keyset `<=` instead of `<`)."""
    response = crm.answer(request)
    page = json.loads(response.get_data()) if _is_list(request) and response.status_code == 200 else {}
    limit = int(request.args.get("limit", 10))
    if page.get("next_cursor") is None or limit < 2:
        return response
    shorter = [item for item in _query(request) if item[0] != "limit"] + [("limit", str(limit - 1))]
    page["next_cursor"] = json.loads(crm.answer(_rebuilt(request, query=shorter)).get_data())["next_cursor"]
    return _json_response(page, response.status_code)


def last_page_omits_next_cursor(crm: ReferenceCrm, request: Request) -> Response:
    response = crm.answer(request)
    if not _is_list(request) or response.status_code != 200:
        return response
    page = json.loads(response.get_data())
    if page["next_cursor"] is None:
        del page["next_cursor"]
    return _json_response(page, 200)


# ----- changes -----
def company_not_stored(crm: ReferenceCrm, request: Request) -> Response:
    """A customer's company is answered on create as sent, but never stored."""
    response = crm.answer(request)
    if request.method == "POST" and request.path.strip("/") == "customers" and response.status_code == 201:
        stored = crm.data.records["customers"][json.loads(response.get_data())["id"]]
        crm.data.records["customers"][stored.id] = stored.model_copy(update={"company": None})
    return response


def idempotency_key_ignored(crm: ReferenceCrm, request: Request) -> Response:
    if request.method != "POST" or "Idempotency-Key" not in request.headers:
        return crm.answer(request)
    return crm.answer(_rebuilt(request, headers={"Idempotency-Key": uuid.uuid4().hex}))


def expect_ignored(crm: ReferenceCrm, request: Request) -> Response:
    """A PATCH is written whatever `expect` says (its expect is made to hold)."""
    kind, _, record_id = request.path.strip("/").partition("/")
    record = crm.data.records.get(kind, {}).get(record_id)
    if request.method != "PATCH" or record is None:
        return crm.answer(request)
    change = json.loads(request.get_data(cache=True))
    current = record.model_dump(mode="json")
    change["expect"] = {name: current.get(name) for name in change.get("expect", {})}
    return crm.answer(_rebuilt(request, body=json.dumps(change).encode()))


# ----- login -----
def _unknown_login(crm: ReferenceCrm, request: Request) -> bool:
    if request.method != "POST" or request.path.strip("/") != "auth/login":
        return False
    return crm.data.user_by_email(str(json.loads(request.get_data(cache=True)).get("email", ""))) is None


def login_says_unknown_email(crm: ReferenceCrm, request: Request) -> Response:
    response = crm.answer(request)
    if response.status_code == 401 and _unknown_login(crm, request):
        return Problem(401, "no account with this email").response()
    return response


def login_unknown_email_is_404(crm: ReferenceCrm, request: Request) -> Response:
    response = crm.answer(request)
    if response.status_code == 401 and _unknown_login(crm, request):
        return Problem(404).response()
    return response


def login_skips_hash_for_unknown_email(crm: ReferenceCrm, request: Request) -> Response:
    """The same 401 for an unknown email, but at once: no dummy hash checked."""
    if _unknown_login(crm, request) and _claims(crm, request) is not None:
        return Problem(401).response()
    return crm.answer(request)


BREAKAGES: dict[str, Breakage] = {
    "token-not-checked": token_not_checked,
    "expired-token-accepted": expired_token_accepted,
    "unsigned-token-accepted": unsigned_token_accepted,
    "any-hs256-key-accepted": any_hs256_key_accepted,
    "any-hmac-accepted": any_hmac_accepted,
    "any-aud-accepted": any_aud_accepted,
    "missing-record-is-500": missing_record_is_500,
    "missing-record-is-200": missing_record_is_200,
    "problems-as-plain-json": problems_as_plain_json,
    "cursor-ignored": cursor_ignored,
    "limit-ignored": limit_ignored,
    "page-repeats-its-last-item": page_repeats_its_last_item,
    "last-page-omits-next-cursor": last_page_omits_next_cursor,
    "company-not-stored": company_not_stored,
    "idempotency-key-ignored": idempotency_key_ignored,
    "expect-ignored": expect_ignored,
    "login-says-unknown-email": login_says_unknown_email,
    "login-unknown-email-is-404": login_unknown_email_is_404,
    "login-skips-hash-for-unknown-email": login_skips_hash_for_unknown_email,
}


# ----- requests and answers -----
def _query(request: Request) -> list[tuple[str, str]]:
    return list(request.args.items(multi=True))


def _rebuilt(
    request: Request,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Request:
    """The same request with another query, some headers replaced, or another body."""
    environ = dict(request.environ)
    if query is not None:
        environ["QUERY_STRING"] = urlencode(query)
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    data = request.get_data(cache=True) if body is None else body
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = BytesIO(data), str(len(data))
    return Request(environ)


def _json_response(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")
