"""Requests to the CRM under test, each with a token minted here (good ones as the bot signs them, and bad ones).

PyJWT and requests directly, not the bot's own client: the checks must send tokens and requests the bot never would.
Every answer is kept, so that the checks on all of them (problem details, statuses) see every request made.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from jwt.warnings import InsecureKeyLengthWarning

from devstack.check_crm.contract import Contract, Operation

ISSUER = "crm-telegram-bot"
TOKEN_SECONDS = 60
EXCERPT_CHARACTERS = 160
SHORTENED_CHARACTERS = 24
PARALLEL_REQUESTS = 4
"""At most this many requests at once (the bad tokens): quick against a remote CRM, and no flood."""
Params = Mapping[str, str | int | Sequence[str]]


@dataclass(frozen=True)
class Identity:
    """Whom a token acts for: a CRM user (with their role and organisation), or the bot itself (`sub: bot`)."""

    sub: str
    role: str | None = None
    org_id: str | None = None

    def claims(self) -> dict[str, str]:
        named = {"sub": self.sub, "role": self.role, "org_id": self.org_id}
        return {name: value for name, value in named.items() if value is not None}


BOT = Identity("bot")


@dataclass(frozen=True)
class Request:
    """One request the checks send, with the identity its token acts for."""

    method: str
    path: str
    identity: Identity
    params: Params | None = None
    body: Any = None
    idempotency_key: str | None = None

    def describe(self) -> str:
        """'GET /deals?limit=2', as a report line names it (an opaque cursor shortened)."""
        query = urlencode(
            {name: _shortened(value) for name, value in (self.params or {}).items()}, doseq=True, safe=":@"
        )
        return f"{self.method} {self.path}" + (f"?{query}" if query else "")


def json_text(value: Any) -> str:
    """A value as JSON shows it (null, "text"), for a report line."""
    return json.dumps(value, default=str)


def _shortened(value: str | int | Sequence[str]) -> str | int | Sequence[str]:
    if isinstance(value, str) and len(value) > SHORTENED_CHARACTERS:
        return value[: SHORTENED_CHARACTERS - 3] + "..."
    return value


@dataclass(frozen=True)
class Answer:
    """What came back: the status (None when nothing did), the body as JSON when it parses, and how long it took."""

    request: Request
    operation: Operation | None
    status: int | None
    media_type: str
    text: str
    seconds: float
    is_json: bool
    body: Any
    """The parsed JSON when `is_json`, else None."""

    def excerpt(self) -> str:
        """'404 application/problem+json {"status": 404, ...}': the status, the type and the start of the body."""
        if self.status is None:
            return f"no answer ({self.text})"
        text = " ".join(self.text.split())
        if len(text) > EXCERPT_CHARACTERS:
            text = text[: EXCERPT_CHARACTERS - 3] + "..."
        return " ".join(part for part in (str(self.status), self.media_type, text) if part)


@dataclass
class CrmClient:
    """Sends `Request`s to the CRM at `url` with tokens keyed with `secret`; keeps every answer in `answers`."""

    url: str
    secret: str
    contract: Contract
    timeout: float = 10.0
    hidden: Sequence[str] = ()
    """Texts never to show in an excerpt (the secret, the test password), should the CRM echo them."""
    answers: list[Answer] = field(default_factory=list)
    _sessions: threading.local = field(default_factory=threading.local)

    def mint(self, identity: Identity, key: str | None = None, algorithm: str = "HS256", **claims: Any) -> str:
        """A token as the bot signs it for `identity`; `key`, `algorithm` and `claims` replace the bot's own."""
        now = int(time.time())
        payload: dict[str, Any] = {"iss": ISSUER, "aud": self.url, "iat": now, "exp": now + TOKEN_SECONDS}
        payload = {**payload, "jti": uuid.uuid4().hex, **identity.claims(), **claims}
        with warnings.catch_warnings():  # a short key is the CRM's choice to make, not what is checked here
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            return jwt.encode(payload, self.secret if key is None else key, algorithm=algorithm)

    def call(self, request: Request) -> Answer:
        """Send `request` with a fresh token for its identity (a new `jti` each time, as the bot does)."""
        return self.send(request, "Bearer " + self.mint(request.identity))

    def send_all(self, sent: Sequence[tuple[Request, str | None]]) -> list[Answer]:
        """Send each (request, Authorization header) at once, a few at a time: the answers, in the same order."""
        with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
            return list(pool.map(lambda pair: self.send(*pair), sent))

    def send(self, request: Request, authorization: str | None) -> Answer:
        """Send `request` with this Authorization header (None: none at all)."""
        headers = {"Accept": "application/json, application/problem+json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        if request.idempotency_key is not None:
            headers["Idempotency-Key"] = f'"{request.idempotency_key}"'
        started = time.perf_counter()
        try:
            response = self._session().request(
                request.method,
                self.url + request.path,
                params=request.params,
                json=request.body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            return self._kept(request, None, "", f"{type(error).__name__}: {error}", time.perf_counter() - started)
        media_type = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        text = response.content.decode("utf-8", errors="replace")  # the contract's JSON is UTF-8, whatever the type
        return self._kept(request, response.status_code, media_type, text, time.perf_counter() - started)

    def _session(self) -> requests.Session:
        """This thread's session (requests does not promise one is safe to share between threads)."""
        if not hasattr(self._sessions, "session"):
            self._sessions.session = requests.Session()
        session: requests.Session = self._sessions.session
        return session

    def _kept(self, request: Request, status: int | None, media_type: str, text: str, seconds: float) -> Answer:
        for hidden in self.hidden:
            text = text.replace(hidden, "***") if hidden else text
        operation = self.contract.operation_of(request.method, request.path)
        try:
            answer = Answer(request, operation, status, media_type, text, seconds, True, json.loads(text))
        except ValueError:
            answer = Answer(request, operation, status, media_type, text, seconds, False, None)
        self.answers.append(answer)
        return answer
