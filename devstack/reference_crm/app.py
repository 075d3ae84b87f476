"""The reference CRM's HTTP side: the token check, routing, and one handler per endpoint of docs/crm-connector.yaml."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from devstack.reference_crm.access import CREATE, READ, customer_of, may_update, visible
from devstack.reference_crm.data import KINDS, CrmData
from shared import clock
from shared.auth.passwords import verify_password
from shared.crm import demo
from shared.crm.records import CrmRecord, Deal, IssuePriority
from shared.crm.users import CrmUser
from shared.roles import STAFF, Role

ISSUER = "crm-telegram-bot"
LEEWAY_SECONDS = 5
MAX_TOKEN_SECONDS = 60
REPLAY_WINDOW_SECONDS = 120
IDEMPOTENCY_SECONDS = 24 * 3600
WRITES = frozenset({"POST", "PATCH", "DELETE"})
COMMON_FIELDS = frozenset({"id", "org_id", "number", "created_at", "updated_at"})
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("name",),
    "leads": ("name",),
    "deals": ("title",),
    "issues": ("title",),
    "payments": ("order_id", "amount", "currency"),
}
CHANGEABLE: dict[str, frozenset[str]] = {
    "customers": frozenset({"assigned_to"}),
    "leads": frozenset({"status", "assigned_to"}),
    "deals": frozenset({"stage", "closed_at", "assigned_to"}),
    "issues": frozenset({"status", "assigned_to"}),
}
LIST_FILTERS: dict[str, frozenset[str]] = {
    "customers": frozenset({"assigned_to"}),
    "leads": frozenset({"assigned_to", "status"}),
    "deals": frozenset({"assigned_to", "customer_id", "stage"}),
    "issues": frozenset({"assigned_to", "customer_id", "status"}),
    "orders": frozenset({"customer_id", "customer_assigned_to", "status"}),
    "payments": frozenset({"customer_id", "customer_assigned_to", "order_id"}),
    "files": frozenset({"customer_id", "customer_assigned_to", "status"}),
}
ALLOWED: dict[str, dict[str, tuple[str, ...]]] = {
    kind: {name: values} for kind, (name, values) in demo.ALLOWED_VALUES.items()
}
ALLOWED["issues"]["priority"] = get_args(IssuePriority)
CURRENCY = re.compile(r"[A-Z]{3}")
IDEMPOTENCY_KEY = re.compile(r'"?([A-Za-z0-9_-]{1,64})"?')
STATUS_TITLES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Changed",
    422: "Unprocessable content",
}


class Problem(Exception):
    """An RFC 9457 answer: raise it anywhere in a handler."""

    def __init__(self, status: int, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or STATUS_TITLES.get(status, ""))
        self.status, self.detail, self.extra = status, detail, extra

    def response(self) -> Response:
        body: dict[str, Any] = {"type": "about:blank", "title": STATUS_TITLES.get(self.status, "Error")}
        body["status"] = self.status
        if self.detail is not None:
            body["detail"] = self.detail
        return Response(json.dumps({**body, **self.extra}), self.status, mimetype="application/problem+json")


def invalid(field: str, message: str) -> Problem:
    return Problem(422, f"{field}: {message}", errors=[{"field": field, "message": message}])


M = TypeVar("M", bound=BaseModel)
UNAUTHORIZED = Problem(401)
"""The one refusal of a token and of a login: same status, same body, whatever the reason."""


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254)
    password: str = Field(max_length=4096)


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    set: dict[str, Any] = Field(default_factory=dict)
    clear: list[str] = Field(default_factory=list)
    expect: dict[str, Any]


@dataclass
class Created:
    """What an Idempotency-Key made: the body it came with, and the record."""

    fingerprint: str
    record: CrmRecord
    at: float


KIND_RULE = "<any(" + ", ".join(KINDS) + "):kind>"
ROUTES = Map(
    [
        Rule("/auth/login", methods=["POST"], endpoint="login"),
        Rule("/users", methods=["GET"], endpoint="find_user"),
        Rule("/users/<path:record_id>", methods=["GET"], endpoint="get_user"),
        Rule("/stats", methods=["GET"], endpoint="stats"),
        Rule(f"/{KIND_RULE}", methods=["GET"], endpoint="list_records"),
        Rule(f"/{KIND_RULE}", methods=["POST"], endpoint="create"),
        Rule(f"/{KIND_RULE}/<path:record_id>", methods=["GET"], endpoint="get_record"),
        Rule(f"/{KIND_RULE}/<path:record_id>", methods=["PATCH"], endpoint="update"),
        Rule(f"/{KIND_RULE}/<path:record_id>", methods=["DELETE"], endpoint="delete"),
    ],
    strict_slashes=False,
    merge_slashes=False,
)


class ReferenceCrm:
    """A WSGI app serving the contract over `data`, for tokens signed with `secret` whose `aud` is exactly `url`."""

    def __init__(self, data: CrmData, secret: str, url: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.data, self.secret, self.url = data, secret, url
        self._monotonic = monotonic
        self.trusting = False
        """True: reads return every record of the token's organisation, whatever its role may see and whatever the
        list's filters say (a CRM that leaves every check but the organisation to the bot: for tests of the bot's
        own). Writes are checked all the same."""
        self._jtis: dict[str, float] = {}
        self._created: dict[tuple[str, str, str], Created] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.answer(Request(environ))(environ, start_response)

    def answer(self, request: Request) -> Response:
        try:
            endpoint, arguments = ROUTES.bind_to_environ(request.environ).match()
            caller = self._caller(request)
            handler: Callable[..., Response] = getattr(self, f"_{endpoint}")
            return handler(request, caller, **arguments)
        except Problem as problem:
            return problem.response()
        except MethodNotAllowed:
            return Problem(405).response()
        except NotFound:
            return Problem(404).response()
        except HTTPException as error:
            return Problem(error.code or 400, error.description).response()

    # ----- the token -----
    def _caller(self, request: Request) -> CrmUser | None:
        """The user the token acts for, or None for the bot's own lookups (`sub: bot`); 401 for any bad token."""
        claims = self._claims(request)
        if claims["sub"] == "bot":
            return None
        user = self.data.users.get(str(claims["sub"]))
        if user is None or not user.is_active or claims.get("role") != user.role or claims.get("org_id") != user.org_id:
            raise Problem(403, "sub, role and org_id must name an active user of this CRM")
        return user

    def _claims(self, request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise UNAUTHORIZED
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=self.url,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.InvalidTokenError:
            raise UNAUTHORIZED from None
        lifetime = claims["exp"] - claims["iat"]
        if claims["aud"] != self.url or not isinstance(claims["jti"], str) or not 0 < lifetime <= MAX_TOKEN_SECONDS:
            raise UNAUTHORIZED
        if request.method in WRITES:
            self._refuse_replay(claims["jti"])
        return claims

    def _refuse_replay(self, jti: str) -> None:
        now = self._monotonic()
        with self.data.lock:
            for seen, until in list(self._jtis.items()):
                if until < now:
                    del self._jtis[seen]
            if jti in self._jtis:
                raise UNAUTHORIZED
            self._jtis[jti] = now + REPLAY_WINDOW_SECONDS

    # ----- users -----
    def _login(self, request: Request, caller: CrmUser | None) -> Response:
        login = _body(request, Login)
        user = self.data.user_by_email(login.email)
        stored = user.password_hash if user is not None else ""
        # No account (or no hash): check a dummy of the same cost, so the answer takes as long as a wrong password.
        matches = verify_password(login.password, stored or self.data.dummy_hash)
        if user is None or not stored or not matches or not user.is_active:
            raise UNAUTHORIZED
        return _json(_user_json(user))

    def _find_user(self, request: Request, caller: CrmUser | None) -> Response:
        email = request.args.get("email")
        if email is None:
            raise invalid("email", "required")
        if caller is not None and caller.role is not Role.VENDOR:
            raise Problem(403, "only the bot or a vendor looks users up by email")
        user = self.data.user_by_email(email)
        found = user is not None and (caller is None or user.org_id == caller.org_id)
        return _json({"items": [_user_json(user)] if found and user else []})

    def _get_user(self, request: Request, caller: CrmUser | None, record_id: str) -> Response:
        user = self.data.users.get(record_id)
        if user is None or (caller is not None and user.org_id != caller.org_id):
            raise Problem(404)
        return _json(_user_json(user))

    # ----- records -----
    def _list_records(self, request: Request, caller: CrmUser | None, kind: str) -> Response:
        who = _staff_or_user(caller, kind)
        args = request.args
        limit = _integer(args, "limit", default=10, low=1, high=50) or 10
        match = _matcher(self.data, kind, args if not self.trusting else _lookups_only(args))
        after = self._read_cursor(args.get("cursor"), _filters_digest(args))
        with self.data.lock:
            found = [r for r in self.data.records[kind].values() if self._readable(who, kind, r) and match(r)]
        found.sort(key=_position, reverse=True)
        if after is not None:
            found = [record for record in found if _position(record) < after]
        page = found[:limit]
        more = len(found) > limit
        cursor = self._cursor(page[-1], _filters_digest(args)) if more else None
        return _json({"items": [record.model_dump(mode="json") for record in page], "next_cursor": cursor})

    def _get_record(self, request: Request, caller: CrmUser | None, kind: str, record_id: str) -> Response:
        with self.data.lock:
            if caller is None:  # the bot's own look-up (notify's recipient check): it checks the organisation itself
                record = self.data.records[kind].get(record_id)
                if record is None:
                    raise Problem(404)
                return _json(record.model_dump(mode="json"))
            who = _staff_or_user(caller, kind)
            record = self.data.records[kind].get(record_id)
            if record is None or not self._readable(who, kind, record):
                raise Problem(404)
            return _json(record.model_dump(mode="json"))

    def _create(self, request: Request, caller: CrmUser | None, kind: str) -> Response:
        who = _staff_or_user(caller)
        if kind not in CREATE:
            raise Problem(405)
        if who.role not in CREATE[kind]:
            raise Problem(403, f"a {who.role} does not create {kind}")
        key = _idempotency_key(request.headers.get("Idempotency-Key"))
        fields = _body_object(request)
        fingerprint = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        now = self._monotonic()
        with self.data.lock:
            for seen_key, made in list(self._created.items()):
                if made.at + IDEMPOTENCY_SECONDS < now:
                    del self._created[seen_key]
            seen = self._created.get((who.org_id, kind, key))
            if seen is not None:
                if seen.fingerprint != fingerprint:
                    raise invalid("Idempotency-Key", "already used for a create with another body")
                record = self.data.records[kind].get(seen.record.id, seen.record)
                return _json(record.model_dump(mode="json"), 200)
            record = self._new_record(who, kind, fields)
            self.data.records[kind][record.id] = record
            self._created[(who.org_id, kind, key)] = Created(fingerprint, record, now)
        return _json(record.model_dump(mode="json"), 201)

    def _update(self, request: Request, caller: CrmUser | None, kind: str, record_id: str) -> Response:
        who = _staff_or_user(caller)
        if kind not in CHANGEABLE:
            raise Problem(405)
        change = _body(request, Change)
        touched = set(change.set) | set(change.clear)
        for name in sorted(touched | set(change.expect)):
            if name not in CHANGEABLE[kind]:
                raise invalid(name, f"not a field of {kind} the bot changes")
        with self.data.lock:
            record = self._visible(who, kind, record_id)
            if not may_update(who, kind, record, touched):
                raise Problem(403, f"a {who.role} may not change this {record.noun}")
            values = {**change.set, **dict.fromkeys(change.clear)}
            updated = _validated(KINDS[kind], {**record.model_dump(), **values, "updated_at": clock.now()})
            self._check_values(who, kind, updated, values)
            if not all(_same(getattr(record, name), value) for name, value in change.expect.items()):
                raise Problem(412, "expect does not hold", current=record.model_dump(mode="json"))
            self.data.records[kind][record.id] = updated
        return _json(updated.model_dump(mode="json"))

    def _delete(self, request: Request, caller: CrmUser | None, kind: str, record_id: str) -> Response:
        who = _staff_or_user(caller)
        with self.data.lock:
            record = self._visible(who, kind, record_id)
            if who.role is not Role.VENDOR:
                raise Problem(403, "only the vendor deletes")
            del self.data.records[kind][record.id]
        return Response(status=204)

    def _stats(self, request: Request, caller: CrmUser | None) -> Response:
        who = _staff_or_user(caller)
        if who.role not in STAFF:
            raise Problem(403, "statistics are for staff")
        since, before = _required_time(request.args, "since"), _required_time(request.args, "before")
        with self.data.lock:
            mine = {
                kind: [r for r in rows.values() if r.org_id == who.org_id] for kind, rows in self.data.records.items()
            }
        return _json(_statistics(mine, since, before))

    # ----- helpers that need the state -----
    def _readable(self, caller: CrmUser, kind: str, record: CrmRecord) -> bool:
        return record.org_id == caller.org_id if self.trusting else visible(self.data, caller, kind, record)

    def _visible(self, caller: CrmUser, kind: str, record_id: str) -> CrmRecord:
        """The record, or 404 when it is missing or the caller may not see it (the same answer for both)."""
        record = self.data.records[kind].get(record_id)
        if record is None or not visible(self.data, caller, kind, record):
            raise Problem(404)
        return record

    def _new_record(self, caller: CrmUser, kind: str, fields: dict[str, Any]) -> CrmRecord:
        model = KINDS[kind]
        for name in fields:
            if name in COMMON_FIELDS or name not in model.model_fields:
                raise invalid(name, f"not a field of a new {model.noun}")
        for name in REQUIRED[kind]:
            if fields.get(name) is None:
                raise invalid(name, "required")
        values = {**fields, **self._implied(caller, kind, fields)}
        now = clock.now()
        number = self.data.last_numbers.get((caller.org_id, kind), 0) + 1
        common = {"id": uuid.uuid4().hex, "org_id": caller.org_id, "number": number}
        record = _validated(model, {**values, **common, "created_at": now, "updated_at": now})
        self._check_values(caller, kind, record, values)
        self.data.next_number(caller.org_id, kind)
        return record

    def _implied(self, caller: CrmUser, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """What the permissions fix on a create: the assignee, the customer of a support issue, a payment's order."""
        implied: dict[str, Any] = {}
        if caller.role is Role.CUSTOMER:  # a support issue: theirs, for the staff member who looks after them
            if fields.get("customer_id") not in (None, caller.customer_id):
                raise Problem(403, "a customer reports issues of their own")
            customer = self.data.records["customers"].get(caller.customer_id or "")
            implied = {"customer_id": caller.customer_id, "reported_by": caller.id}
            implied["assigned_to"] = getattr(customer, "assigned_to", None)
        elif "assigned_to" in KINDS[kind].model_fields:
            implied["assigned_to"] = fields.get("assigned_to") or caller.id
            if caller.role is Role.EMPLOYEE and implied["assigned_to"] != caller.id:
                raise Problem(403, "only the vendor assigns to someone else")
        if kind == "payments":
            order = self.data.records["orders"].get(str(fields.get("order_id")))
            if order is None or not visible(self.data, caller, "orders", order):
                raise invalid("order_id", "no such order")
            if fields.get("customer_id") not in (None, getattr(order, "customer_id", None)):
                raise invalid("customer_id", "not the order's customer")
            implied = {"customer_id": getattr(order, "customer_id", None), "recorded_by": fields.get("recorded_by")}
            implied["recorded_by"] = implied["recorded_by"] or caller.id
        return implied

    def _check_values(self, caller: CrmUser, kind: str, record: CrmRecord, written: dict[str, Any]) -> None:
        """422 for a value the CRM does not accept: an unknown status, a currency, a person or customer not ours."""
        for name, allowed in ALLOWED.get(kind, {}).items():
            if name in written and getattr(record, name) not in allowed:
                raise invalid(name, f"one of {', '.join(allowed)}")
        if "currency" in written and not CURRENCY.fullmatch(str(getattr(record, "currency", ""))):
            raise invalid("currency", "an ISO 4217 code")
        assignee = written.get("assigned_to")
        if assignee is not None:
            user = self.data.users.get(str(assignee))
            if user is None or user.org_id != caller.org_id or user.role not in STAFF or not user.is_active:
                raise invalid("assigned_to", "not an active vendor or employee of this organisation")
        customer_id = written.get("customer_id")
        if customer_id is not None and kind != "customers":
            customer = self.data.records["customers"].get(str(customer_id))
            if customer is None or customer.org_id != caller.org_id:
                raise invalid("customer_id", "no such customer")

    def _cursor(self, last: CrmRecord, digest: str) -> str:
        created, record_id = _position(last)
        payload = base64.urlsafe_b64encode(json.dumps([created.isoformat(), record_id, digest]).encode()).decode()
        return payload.rstrip("=") + "." + self._mac(payload.rstrip("="))

    def _read_cursor(self, cursor: str | None, digest: str) -> tuple[dt.datetime, str] | None:
        """The (created_at, id) a cursor of ours continues after; 422 for one we did not make, or for other filters."""
        if cursor is None:
            return None
        payload, _, mac = cursor.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise invalid("cursor", "not a cursor of this CRM")
        created, record_id, made_for = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if made_for != digest:
            raise invalid("cursor", "made for other filters")
        return dt.datetime.fromisoformat(created), record_id

    def _mac(self, payload: str) -> str:
        return hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


# ----- request and response helpers -----
def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def _user_json(user: CrmUser) -> dict[str, Any]:
    return CrmUser.model_validate(user.model_dump()).model_dump(mode="json")


def _staff_or_user(caller: CrmUser | None, kind: str | None = None) -> CrmUser:
    """The user a record endpoint acts for; 403 for the bot itself, or for a kind the role never reads."""
    if caller is None:
        raise Problem(403, "records are read and written for a user: sub must be a CRM user id")
    if kind is not None and caller.role not in READ[kind]:
        raise Problem(403, f"a {caller.role} does not see {kind}")
    return caller


def _body_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError):
        raise invalid("body", "not JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "a JSON object")
    return body


def _body(request: Request, model: type[M]) -> M:
    return _validated(model, _body_object(request))


def _validated(model: type[M], values: dict[str, Any]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in error.errors()
        ]
        raise Problem(422, f"{problems[0]['field']}: {problems[0]['message']}", errors=problems) from None


def _idempotency_key(header: str | None) -> str:
    found = IDEMPOTENCY_KEY.fullmatch(header.strip()) if header is not None else None
    if found is None:
        raise invalid(
            "Idempotency-Key", 'required: the record id the bot chose, as "..." (up to 64 of A-Z a-z 0-9 _ -)'
        )
    return found.group(1)


def _integer(args: MultiDict[str, str], name: str, default: int | None, low: int, high: int | None) -> int | None:
    text = args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid(name, "an integer") from None
    if value < low or (high is not None and value > high):
        raise invalid(name, f"from {low}" + (f" to {high}" if high is not None else ""))
    return value


def _time(args: MultiDict[str, str], name: str) -> dt.datetime | None:
    text = args.get(name)
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise invalid(name, "an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise invalid(name, "an RFC 3339 date-time with an offset")
    return moment


def _required_time(args: MultiDict[str, str], name: str) -> dt.datetime:
    moment = _time(args, name)
    if moment is None:
        raise invalid(name, "required")
    return moment


def _position(record: CrmRecord) -> tuple[dt.datetime, str]:
    assert record.created_at is not None  # records without one are never listed
    return record.created_at, record.id


def _filters_digest(args: MultiDict[str, str]) -> str:
    filters = sorted((name, value) for name, value in args.items(multi=True) if name not in ("cursor", "limit"))
    return hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]


def _lookups_only(args: MultiDict[str, str]) -> MultiDict[str, str]:
    """A trusting CRM's filters: the look-ups by id and number only, none of those that narrow what a role sees."""
    return MultiDict([(name, value) for name, value in args.items(multi=True) if name in ("id", "number")])


def _matcher(data: CrmData, kind: str, args: MultiDict[str, str]) -> Callable[[CrmRecord], bool]:
    """The list filters of docs/crm-connector.md, all of which must hold; 422 for a value that cannot be one."""
    since, before = _time(args, "created_since"), _time(args, "created_before")
    number = _integer(args, "number", default=None, low=1, high=None)
    ids, q = set(args.getlist("id")), args.get("q")
    given = {name: args.getlist(name) for name in LIST_FILTERS[kind] if name in args}
    for name, values in given.items():
        allowed = ALLOWED.get(kind, {}).get(name)
        for value in values:
            if allowed is not None and value not in allowed:
                raise invalid(name, f"one of {', '.join(allowed)}")

    def match(record: CrmRecord) -> bool:
        created = record.created_at
        if created is None or (since and created < since) or (before and created >= before):
            return False
        if (number is not None and record.number != number) or (ids and record.id not in ids):
            return False
        if q is not None and not record.matches(q):
            return False
        for name, values in given.items():
            if name == "customer_assigned_to":
                actual = getattr(customer_of(data, record), "assigned_to", None)
            else:
                actual = getattr(record, name, None)
            if actual not in values:
                return False
        return True

    return match


def _same(current: Any, expected: Any) -> bool:
    """An `expect` value against the record's: null means empty, times compare as times."""
    if expected is None:
        return current is None or current == ""
    if isinstance(current, dt.datetime) and isinstance(expected, str):
        try:
            moment = dt.datetime.fromisoformat(expected)
        except ValueError:
            return False
        return moment.tzinfo is not None and moment == current
    return bool(current == expected)


def _statistics(records: dict[str, list[CrmRecord]], since: dt.datetime, before: dt.datetime) -> dict[str, Any]:
    def counts(kind: str, name: str) -> dict[str, int]:
        tally = dict.fromkeys(ALLOWED[kind][name], 0)
        for record in records[kind]:
            value = str(getattr(record, name))
            tally[value] = tally.get(value, 0) + 1
        return tally

    def within(moment: dt.datetime | None) -> bool:
        return moment is not None and since <= moment < before

    new_leads = [lead for lead in records["leads"] if within(lead.created_at)]
    won = [deal for deal in records["deals"] if isinstance(deal, Deal) and deal.stage == "closed_won"]
    won = [deal for deal in won if isinstance(deal, Deal) and within(deal.closed_at)]
    payments = [payment for payment in records["payments"] if within(payment.created_at)]
    return {
        "deals_by_stage": counts("deals", "stage"),
        "leads_by_status": counts("leads", "status"),
        "issues_by_status": counts("issues", "status"),
        "orders_by_status": counts("orders", "status"),
        "period": {
            "new_leads": len(new_leads),
            "converted_leads": sum(getattr(lead, "status", None) == "converted" for lead in new_leads),
            "deals_won": len(won),
            "revenue": _sums(won, "value"),
            "payments_count": len(payments),
            "payments_total": _sums(payments, "amount"),
        },
    }


def _sums(records: Sequence[CrmRecord], field: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    for record in records:
        currency = str(getattr(record, "currency", ""))
        sums[currency] = sums.get(currency, 0.0) + float(getattr(record, field, 0.0))
    return sums
