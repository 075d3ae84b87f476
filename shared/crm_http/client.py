"""The CRM connector's HTTP client: one pooled session, a fresh token per attempt, the contract's statuses as
exceptions (docs/crm-connector.md, "What each status means to the bot"). It speaks plain JSON; the domain makes
models of it."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import tenacity
from requests.adapters import HTTPAdapter

from shared.crm_http.tokens import BOT, Principal, sign_token

log = logging.getLogger(__name__)

BACKOFF_SECONDS = 0.1
"""A read's first wait before trying again; it doubles with each try, plus up to as much again of jitter."""
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
RETRY_AFTER_SECONDS = re.compile(r"\s*\d+\s*")

Answer = TypeVar("Answer")


class CrmApiError(Exception):
    """The CRM did not do what was asked. `detail` is the problem's, for logs only: never show it to a user."""

    def __init__(self, message: str, *, status: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        return self.message if self.detail is None else f"{self.message}: {self.detail}"


class CrmUnavailable(CrmApiError):
    """A fault of the CRM: no answer in time, no connection, a 5xx or 3xx, or an answer the contract does not allow."""


class CrmBusy(CrmUnavailable):
    """429 (or 503 with Retry-After) whose wait did not fit in the deadline: "the CRM is busy, try again later"."""

    def __init__(
        self, message: str, *, status: int | None = None, detail: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.retry_after = retry_after


class CrmMisconfigured(CrmApiError):
    """401 outside the login: CRM_SIGNING_SECRET or CRM_API_URL differ from what the CRM expects."""


class CrmForbidden(CrmApiError):
    """403: the CRM refused what the bot allowed, so the two disagree on a permission."""


class CrmNotFound(CrmApiError):
    """404: no such record or user in the caller's organisation."""


class CrmChanged(CrmApiError):
    """412: the record is no longer as `expect` said; nothing was written. `current` is the record now, if sent."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str | None = None,
        current: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.current = current


class CrmInvalid(CrmApiError):
    """422 (or 400): the CRM refused a value; `errors` are the problem's `{"field", "message"}` items, if sent."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.errors = errors or []


@dataclass(frozen=True)
class _Request:
    """One call to the CRM. Neither the body nor the headers ever appear in its repr, a log or an exception."""

    method: str
    path: str
    principal: Principal
    params: Sequence[tuple[str, str]] = ()
    body: Mapping[str, Any] | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    answer_may_echo_body: bool = False
    """True for the login: the problem's `detail` and `errors` could repeat the password, so they are dropped."""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


class CrmHttp:
    """Calls the CRM at `base_url` over docs/crm-connector.yaml; each call ends within `timeout_seconds`."""

    def __init__(
        self,
        base_url: str,
        signing_secret: str,
        timeout_seconds: float,
        *,
        session: requests.Session | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = signing_secret
        self._timeout = timeout_seconds
        self._session = session or _pooled_session()
        self._monotonic = monotonic
        self._sleep = sleep
        self._wall_clock = wall_clock

    def read(self, path: str, principal: Principal, params: Sequence[tuple[str, str]] = ()) -> Any:
        """GET `path` and return its JSON, trying again on CRM faults and 429s while the deadline allows.

        Raises:
            CrmApiError: the subclass for what the CRM answered last.
        """
        request = _Request("GET", path, principal, params=tuple(params))
        return self._with_retries(request, _json_answer, attempts=None)

    def login(self, email: str, password: str) -> dict[str, Any] | None:
        """POST /auth/login as the bot, once: the user on 200, None when the CRM refuses (401)."""
        body = {"email": email, "password": password}
        request = _Request("POST", "/auth/login", BOT, body=body, answer_may_echo_body=True)
        return self._attempt(request, self._monotonic() + self._timeout, _login_answer)

    def create(self, path: str, principal: Principal, body: Mapping[str, Any], idempotency_key: str) -> dict[str, Any]:
        """POST a new record and return it as stored (201, or 200 when the key made it before).

        A CRM fault or a 409 (the key's first request still running) is tried once more with the same key.

        Raises:
            ValueError: the key is not 1 to 64 of A-Z a-z 0-9 _ - (the contract's pattern).
            CrmApiError: the subclass for what the CRM answered last.
        """
        if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ValueError(f"Idempotency-Key {idempotency_key!r} is not 1 to 64 of A-Z a-z 0-9 _ -")
        headers = {"Idempotency-Key": f'"{idempotency_key}"'}  # an RFC 8941 string
        request = _Request("POST", path, principal, body=body, headers=headers)
        return self._with_retries(request, _object_answer, attempts=2)

    def update(self, path: str, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH a record, once, and return it as changed."""
        request = _Request("PATCH", path, principal, body=body)
        return self._attempt(request, self._monotonic() + self._timeout, _object_answer)

    def delete(self, path: str, principal: Principal) -> None:
        """DELETE a record, once."""
        self._attempt(_Request("DELETE", path, principal), self._monotonic() + self._timeout, _no_answer)

    def _with_retries(
        self, request: _Request, read_answer: Callable[[_Request, requests.Response], Answer], attempts: int | None
    ) -> Answer:
        deadline = self._monotonic() + self._timeout
        backoff = tenacity.wait_exponential_jitter(initial=BACKOFF_SECONDS, jitter=BACKOFF_SECONDS)

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            if isinstance(error, CrmBusy) and error.retry_after is not None:
                return error.retry_after
            return backoff(state)

        def stop(state: tenacity.RetryCallState) -> bool:
            if attempts is not None and state.attempt_number >= attempts:
                return True
            return self._monotonic() + state.upcoming_sleep >= deadline

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(CrmUnavailable),
            wait=wait,
            stop=stop,
            sleep=self._sleep,
            reraise=True,
        )

        def attempt() -> Answer:
            return self._attempt(request, deadline, read_answer)

        return retrying(attempt)

    def _attempt(
        self, request: _Request, deadline: float, read_answer: Callable[[_Request, requests.Response], Answer]
    ) -> Answer:
        """One try within what is left of the deadline; a failure is logged and raised."""
        started = self._monotonic()
        try:
            return read_answer(request, self._send(request, deadline - started))
        except CrmApiError as error:
            _log_failure(error, self._monotonic() - started)
            raise

    def _send(self, request: _Request, seconds_left: float) -> requests.Response:
        if seconds_left <= 0:
            raise CrmUnavailable(f"{request.name}: no time left of the {self._timeout:g} s deadline")
        token = sign_token(self._secret, self._base_url, request.principal, self._wall_clock())
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token}", **request.headers}
        try:
            return self._session.request(
                request.method,
                self._base_url + request.path,
                params=list(request.params),
                json=dict(request.body) if request.body is not None else None,
                headers=headers,
                timeout=seconds_left,
                allow_redirects=False,
            )
        except requests.exceptions.InvalidJSONError:
            raise  # the caller's body is not JSON: a bug of ours, not a fault of the CRM
        except requests.Timeout:
            raise CrmUnavailable(f"{request.name}: no answer within {seconds_left:.2f} s") from None
        except requests.RequestException as error:  # its message names the URL only; the body stays out
            raise CrmUnavailable(f"{request.name}: {type(error).__name__}, no answer") from None


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _json_answer(request: _Request, response: requests.Response) -> Any:
    _raise_unless_done(request, response)
    try:
        return response.json()
    except ValueError:
        raise CrmUnavailable(f"{request.name}: {response.status_code} without a JSON body") from None


def _object_answer(request: _Request, response: requests.Response) -> dict[str, Any]:
    found = _json_answer(request, response)
    if not isinstance(found, dict):
        raise CrmUnavailable(
            f"{request.name}: {response.status_code} with {type(found).__name__}, not JSON the contract allows"
        )
    return found


def _login_answer(request: _Request, response: requests.Response) -> dict[str, Any] | None:
    if response.status_code == 401:
        return None
    return _object_answer(request, response)


def _no_answer(request: _Request, response: requests.Response) -> None:
    _raise_unless_done(request, response)


def _raise_unless_done(request: _Request, response: requests.Response) -> None:
    """Raise the contract's exception for anything but a 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    problem = {} if request.answer_may_echo_body else _problem(response)
    detail = problem.get("detail") if isinstance(problem.get("detail"), str) else None
    said = f"{request.name}: {status}"
    if status in (400, 422):
        errors = [item for item in problem.get("errors") or [] if isinstance(item, dict)]
        raise CrmInvalid(f"{said}, a value refused", status=status, detail=detail, errors=errors)
    if status == 401:
        raise CrmMisconfigured(
            f"{said}, the token refused: CRM_SIGNING_SECRET or CRM_API_URL differ from the CRM's",
            status=status,
            detail=detail,
        )
    if status == 403:
        raise CrmForbidden(f"{said}, the CRM refused what the bot allowed", status=status, detail=detail)
    if status == 404 and "json" in response.headers.get("Content-Type", ""):
        raise CrmNotFound(f"{said}, not found", status=status, detail=detail)
    if status == 404:  # not the contract's problem answer: a wrong CRM_API_URL or a proxy's page, not "no such user"
        raise CrmUnavailable(f"{said} without problem details: is CRM_API_URL right?", status=status)
    if status == 412:
        current = problem.get("current")
        raise CrmChanged(
            f"{said}, changed meanwhile",
            status=status,
            detail=detail,
            current=current if isinstance(current, dict) else None,
        )
    retry_after = _retry_after(response)
    if status == 429 or (status == 503 and retry_after is not None):
        wait = "" if retry_after is None else f", Retry-After {retry_after:g} s"
        raise CrmBusy(f"{said}, busy{wait}", status=status, detail=detail, retry_after=retry_after)
    if status == 409:
        raise CrmUnavailable(f"{said}, a conflict: a create with this key still running", status=status, detail=detail)
    fault = "a fault of the CRM" if status >= 500 else "not a status of the contract"
    raise CrmUnavailable(f"{said}, {fault}", status=status, detail=detail)


def _problem(response: requests.Response) -> dict[str, Any]:
    """The RFC 9457 problem details of an error answer, or {} for anything else (an HTML 502 page)."""
    if "json" not in response.headers.get("Content-Type", ""):
        return {}
    try:
        problem = response.json()
    except ValueError:
        return {}
    return problem if isinstance(problem, dict) else {}


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (the contract's form; an HTTP date is ignored)."""
    value = response.headers.get("Retry-After")
    return float(value) if value is not None and RETRY_AFTER_SECONDS.fullmatch(value) else None


def _log_failure(error: CrmApiError, elapsed_seconds: float) -> None:
    if isinstance(error, CrmMisconfigured | CrmForbidden):
        level = logging.ERROR
    elif isinstance(error, CrmNotFound | CrmChanged):
        level = logging.INFO  # an answer the domain expects, not a fault
    else:
        level = logging.WARNING
    log.log(level, "CRM %s (%d ms)", error.message, elapsed_seconds * 1000)
