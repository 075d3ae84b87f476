"""The CRM port over a CRM's own HTTP API (docs/crm-connector.md): `CRM_BACKEND=rest`.

The CRM keeps its data; the bot asks it every time, signed as the user it acts for (shared/crm_http). What comes
back is validated into the same models as the Firestore adapter's, and the bot's own permission checks run on it
as on those. The adapter's failures become the port's: CrmUnreachable, CrmRefused, CrmRejected, RecordChanged and
RecordGone, so nothing above knows that HTTP was spoken.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import TypeAdapter, ValidationError

from shared.crm.port import (
    Acting,
    CrmRefused,
    CrmRejected,
    CrmStatistics,
    CrmUnreachable,
    LoginAnswer,
    PeriodTotals,
    RecordChanged,
)
from shared.crm.records.models import CrmRecord, Customer
from shared.crm.records.queries import CUSTOMER_ASSIGNED_TO, MAX_PAGE_SIZE, InvalidCursor, Page, Where, parse_record
from shared.crm.records.writes import RecordGone
from shared.crm.users import CrmUser, parse_user
from shared.crm_http import (
    BOT,
    CrmApiError,
    CrmBusy,
    CrmChanged,
    CrmForbidden,
    CrmHttp,
    CrmInvalid,
    CrmMisconfigured,
    CrmNotFound,
    CrmUnavailable,
    Principal,
)

log = logging.getLogger(__name__)

R = TypeVar("R", bound=CrmRecord)

MAX_IDS_PER_READ = 50
"""How many records one `?id=` list asks for (the contract's page limit)."""
GUARDED_FIELDS = ("assigned_to",)
"""Fields an update also expects unchanged, so the permission the bot checked still holds when the CRM writes."""
_JSON = TypeAdapter(Any)


class RestCrm:
    """The port (shared/crm/port.py Crm) over the CRM connector's HTTP API."""

    def __init__(self, api: CrmHttp) -> None:
        self._api = api

    # ----- users -----
    def get_user(self, user_id: str) -> CrmUser | None:
        with _answers():
            try:
                return parse_user(self._api.read(f"/users/{_segment(user_id)}", BOT))
            except (CrmNotFound, _NoSuchId):
                return None

    def find_user_by_email(self, email: str) -> CrmUser | None:
        with _answers():
            return self._user_by_email(email)

    def check_login(self, email: str, password: str, verify: Callable[[str, str | None], bool]) -> LoginAnswer:
        with _answers():
            answer = self._api.login(email, password)
        if answer is None:
            # The contract's one refusal is also its answer to a bad token: a look-up the token must pass tells a
            # wrong password (the account, for the audit) from a CRM_SIGNING_SECRET the CRM does not share, which
            # raises CrmUnreachable instead of counting towards a lockout.
            try:
                account = self._user_by_email(email)
            except CrmMisconfigured as error:
                raise CrmUnreachable(f"the CRM refused the bot's token: {error}") from None
            except CrmApiError as error:  # any other trouble must not give the attempt back: it stays a failure
                log.warning("a refused login's account could not be looked up: %s", error)
                return LoginAnswer(None)
            return LoginAnswer(None, account.id if account is not None else None)
        user = parse_user(answer)
        if user is None:
            raise CrmUnreachable("POST /auth/login answered 200 without a user the bot can read")
        return LoginAnswer(user if user.is_active else None, user.id)

    def _user_by_email(self, email: str) -> CrmUser | None:
        """GET /users?email= as the bot, its failures as the client raises them."""
        return parse_user_list(self._api.read("/users", BOT, [("email", email.strip().lower())]))

    # ----- records -----
    def get_record(self, acting: Acting | None, model: type[R], record_id: str) -> R | None:
        with _answers():
            try:
                row = self._api.read(_path(model, record_id), _principal(acting))
            except (CrmNotFound, _NoSuchId):
                return None
        return parse_record(model, row if isinstance(row, dict) else None)

    def get_records(self, acting: Acting, model: type[R], ids: Iterable[str]) -> dict[str, R]:
        wanted = list(dict.fromkeys(record_id for record_id in ids if record_id))
        found: dict[str, R] = {}
        for offset in range(0, len(wanted), MAX_IDS_PER_READ):
            chunk = wanted[offset : offset + MAX_IDS_PER_READ]
            params = [("id", record_id) for record_id in chunk] + [("limit", str(MAX_PAGE_SIZE))]
            found |= {record.id: record for record in self._items(acting, model, params)[0] if record.id in chunk}
        return found

    def find_by_number(self, acting: Acting, model: type[R], number: int) -> R | None:
        items, _ = self._items(acting, model, [("number", str(number)), ("limit", "1")])
        return next((record for record in items if record.number == number), None)

    def list_records(self, acting: Acting, model: type[R], where: Where, page_size: int, cursor: str | None) -> Page[R]:
        if any(not values for values in where.one_of.values()):
            return Page([], None)  # 'one of' nothing: no record matches (and no filter must not mean all)
        params = _list_params(where) + [("limit", str(max(1, min(page_size, MAX_PAGE_SIZE))))]
        if cursor:
            params.append(("cursor", cursor))
        try:
            items, next_cursor = self._items(acting, model, params)
        except CrmRejected as rejected:
            # The cursor is all a next page asks that the first did not: a 422 naming no other field is about it.
            if cursor and ("cursor" in rejected.fields or not rejected.fields):
                raise InvalidCursor(cursor) from None
            raise
        return Page(self._selected(acting, where, items), next_cursor)

    def create_record(self, acting: Acting, model: type[R], fields: Mapping[str, Any], record_id: str) -> R:
        body = {name: value for name, value in _plain(fields).items() if value is not None}
        with _answers():
            row = self._api.create(f"/{model.collection}", _principal(acting), body, idempotency_key=record_id)
        return _written(model, row)

    def update_record(
        self,
        acting: Acting,
        model: type[R],
        record_id: str,
        check: Callable[[R], None],
        changes: Mapping[str, Any],
        cleared: Sequence[str],
        expect: Mapping[str, Any],
    ) -> R:
        current = self._current(acting, model, record_id)
        check(current)
        guarded = {name: getattr(current, name) for name in GUARDED_FIELDS if name in type(current).model_fields}
        body = {"set": _plain(changes), "clear": list(cleared), "expect": _plain({**guarded, **expect})}
        with _answers():
            try:
                row = self._api.update(_path(model, record_id), _principal(acting), body)
            except CrmNotFound:
                raise RecordGone(record_id) from None
            except CrmChanged as changed:
                now = parse_record(model, changed.current) if changed.current else None
                raise RecordChanged(record_id, now or self.get_record(acting, model, record_id)) from None
        return _written(model, row)

    def delete_record(self, acting: Acting, model: type[R], record_id: str, check: Callable[[R], None]) -> R:
        current = self._current(acting, model, record_id)
        check(current)
        with _answers():
            try:
                self._api.delete(_path(model, record_id), _principal(acting))
            except CrmNotFound:
                raise RecordGone(record_id) from None
        return current

    def statistics(self, acting: Acting, periods: Sequence[tuple[dt.datetime, dt.datetime]]) -> CrmStatistics:
        principal = _principal(acting)

        def ask(period: tuple[dt.datetime, dt.datetime]) -> Any:
            with _answers():
                params = [("since", period[0].isoformat()), ("before", period[1].isoformat())]
                return self._api.read("/stats", principal, params)

        if not periods:
            raise ValueError("the CRM's statistics are asked for at least one period")
        with ThreadPoolExecutor(len(periods)) as pool:
            answers = list(pool.map(ask, periods))
        first = answers[0]
        try:
            return CrmStatistics(
                deals_by_stage=_COUNTS.validate_python(first["deals_by_stage"]),
                leads_by_status=_COUNTS.validate_python(first["leads_by_status"]),
                issues_by_status=_COUNTS.validate_python(first["issues_by_status"]),
                orders_by_status=_COUNTS.validate_python(first["orders_by_status"]),
                periods=[_TOTALS.validate_python(answer["period"]) for answer in answers],
            )
        except (KeyError, TypeError, ValidationError) as error:
            raise CrmUnreachable(f"GET /stats answered what the contract does not allow: {error}") from None

    # ----- helpers -----
    def _items(self, acting: Acting, model: type[R], params: list[tuple[str, str]]) -> tuple[list[R], str | None]:
        with _answers():
            page = self._api.read(f"/{model.collection}", _principal(acting), params)
        items = page.get("items") if isinstance(page, dict) else None
        next_cursor = page.get("next_cursor") if isinstance(page, dict) else None
        if not isinstance(items, list) or not isinstance(next_cursor, str | None):
            raise CrmUnreachable(f"GET /{model.collection} answered a page the contract does not allow")
        records = [parse_record(model, row if isinstance(row, dict) else None) for row in items]
        ours = [record for record in records if record is not None and record.org_id == acting.org_id]
        if len(ours) < len([record for record in records if record is not None]):
            log.error(
                "GET /%s answered records of another organisation than %s: left out", model.collection, acting.org_id
            )
        return ours, next_cursor or None

    def _selected(self, acting: Acting, where: Where, items: list[R]) -> list[R]:
        """The items that hold every filter the bot can check itself (defence in depth: a CRM that ignored one, say a
        customer's `customer_id`, must not show a customer another customer's orders); the others are logged. The
        text is the CRM's own search, not checked here."""
        assigned_to = where.equals.get(CUSTOMER_ASSIGNED_TO)
        customers = (
            self.get_records(acting, Customer, [str(getattr(item, "customer_id", "") or "") for item in items])
            if assigned_to is not None
            else {}
        )

        def holds(record: R) -> bool:
            for name, value in where.equals.items():
                if name == CUSTOMER_ASSIGNED_TO:
                    customer = customers.get(str(getattr(record, "customer_id", "") or ""))
                    if customer is None or customer.assigned_to != value:
                        return False
                elif getattr(record, name, None) != value:
                    return False
            if any(getattr(record, name, None) not in values for name, values in where.one_of.items()):
                return False
            created = record.created_at
            if where.since is not None and (created is None or created < where.since):
                return False
            return where.before is None or (created is not None and created < where.before)

        selected = [item for item in items if holds(item)]
        if len(selected) < len(items):
            log.error("the CRM's list answered %d records its filters exclude: left out", len(items) - len(selected))
        return selected

    def _current(self, acting: Acting, model: type[R], record_id: str) -> R:
        current = self.get_record(acting, model, record_id)
        if current is None:
            raise RecordGone(record_id)
        return current


_COUNTS = TypeAdapter(dict[str, int])
_TOTALS = TypeAdapter(PeriodTotals)


@contextmanager
def _answers() -> Iterator[None]:
    """The adapter's failures as the port's (404 and 412 are handled where they mean something)."""
    try:
        yield
    except CrmBusy as busy:
        raise CrmUnreachable(f"the CRM is busy: {busy}", busy=True) from None
    except CrmUnavailable as unavailable:
        raise CrmUnreachable(f"the CRM could not answer: {unavailable}") from None
    except CrmForbidden as forbidden:
        log.error("the CRM refused what the bot allowed (the two disagree on a permission): %s", forbidden)
        raise CrmRefused(str(forbidden)) from None
    except CrmInvalid as invalid:  # the field names only: a problem's detail is for logs, never for the model
        log.warning("the CRM refused a value: %s", invalid)
        fields = [str(error.get("field")) for error in invalid.errors if isinstance(error, dict) and error.get("field")]
        raise CrmRejected(fields) from None
    except CrmMisconfigured as error:  # CRM_SIGNING_SECRET or CRM_API_URL differ from the CRM's (logged by the client)
        raise CrmUnreachable(f"the CRM refused the bot's token: {error}") from None
    except CrmApiError as error:  # a 404 or 412 where the contract has none (a list, a create, /stats)
        raise CrmUnreachable(f"the CRM answered what the contract does not allow here: {error}") from None


def parse_user_list(found: Any) -> CrmUser | None:
    """The user of a GET /users?email= answer (0 or 1 item)."""
    items = found.get("items") if isinstance(found, dict) else None
    if not isinstance(items, list):
        raise CrmUnreachable("GET /users answered without an items list")
    users = [user for user in map(parse_user, items) if user is not None]
    return users[0] if users else None


def _principal(acting: Acting | None) -> Principal:
    if acting is None:
        return BOT
    return Principal(acting.crm_user_id, acting.role.value, acting.org_id)


def _segment(value: str) -> str:
    """An id as one path segment; '.' and '..' would name another path, so they are refused as no record."""
    if value in ("", ".", ".."):
        raise _NoSuchId(value)
    return quote(value, safe="")


class _NoSuchId(LookupError):
    """An id no record can have in a URL path."""


def _path(model: type[CrmRecord], record_id: str) -> str:
    return f"/{model.collection}/{_segment(record_id)}"


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as JSON (timestamps in RFC 3339)."""
    plain: dict[str, Any] = _JSON.dump_python(dict(values), mode="json")
    return plain


def _list_params(where: Where) -> list[tuple[str, str]]:
    """A selection as the contract's list filters (every `equals` and `one_of` name is one of them)."""
    if where.range_field != "created_at":
        raise ValueError(f"the CRM's lists filter on created_at, not {where.range_field}")
    params = [(name, str(value)) for name, value in where.equals.items()]
    params += [(name, str(value)) for name, values in where.one_of.items() for value in values]
    if where.since is not None:
        params.append(("created_since", where.since.isoformat()))
    if where.before is not None:
        params.append(("created_before", where.before.isoformat()))
    if where.text:
        params.append(("q", where.text))
    return params


def _written(model: type[R], row: Any) -> R:
    """The record a write answered with; CrmUnreachable when it is not one (the write may still have been made)."""
    record = parse_record(model, row if isinstance(row, dict) else None)
    if record is None:
        raise CrmUnreachable(f"a write of a {model.noun} answered a record the bot cannot read")
    return record
