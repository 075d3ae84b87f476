"""The reference CRM (devstack/reference_crm) on a loopback port for benchmark 6, over the demo data of `make run`,
counting every request it receives by method and path template (as tests/crm_world.py's ReferenceServer runs it).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from devstack.reference_crm.app import KIND_RULE, ROUTES, ReferenceCrm
from devstack.reference_crm.data import CrmData

SIGNING_SECRET = "bench-signing-secret-of-the-reference-crm-32-bytes"


@dataclass(frozen=True)
class CrmCall:
    """One request the CRM received: its endpoint (`GET /users/{id}`), the path as sent, and its time in the CRM."""

    method: str
    template: str
    path: str
    query: str
    status: int
    seconds: float
    records: tuple[str, ...] = ()
    """The records a read answered with, as 'deals/<id>' ('users/<id>' for a user)."""

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def request(self) -> str:
        """The request exactly as made (method, path and query): two equal ones in an update read the same twice."""
        return f"{self.method} {self.path}" + (f"?{self.query}" if self.query else "")


def path_template(environ: dict[str, Any]) -> str:
    """The contract's path of a request, the kind kept and the id left out: /deals/{id}, /users/{id}, /auth/login."""
    try:
        rule, arguments = ROUTES.bind_to_environ(environ).match(return_rule=True)
    except HTTPException:
        return f"{environ.get('PATH_INFO', '')} (no such endpoint)"
    return rule.rule.replace(KIND_RULE, str(arguments.get("kind", ""))).replace("<path:record_id>", "{id}")


def records_in(template: str, body: bytes) -> tuple[str, ...]:
    """The records (or users) a read's answer holds: a page's items, or the one record."""
    kind = template.strip("/").split("/")[0]
    try:
        answer = json.loads(body)
    except ValueError:
        return ()
    rows = answer.get("items", [answer]) if isinstance(answer, dict) else []
    return tuple(f"{kind}/{row['id']}" for row in rows if isinstance(row, dict) and isinstance(row.get("id"), str))


class CountingReferenceCrm:
    """The reference CRM over `data`, served until `stop()`; `take()` hands over the requests received since the
    last call."""

    def __init__(self, data: CrmData) -> None:
        self.crm = ReferenceCrm(data, SIGNING_SECRET, url="")
        self._calls: list[CrmCall] = []
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._count, threaded=True)
        self.url = self.crm.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def data(self) -> CrmData:
        return self.crm.data

    def environment(self) -> dict[str, str]:
        """The settings that point the bot's functions at this CRM."""
        return {"CRM_BACKEND": "rest", "CRM_API_URL": self.url, "CRM_SIGNING_SECRET": SIGNING_SECRET}

    def take(self) -> list[CrmCall]:
        with self._lock:
            calls, self._calls = self._calls, []
        return calls

    def _count(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        statuses: list[int] = []

        def starting(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            statuses.append(int(status.split()[0]))
            return start_response(status, headers, *rest)

        body = b"".join(self.crm(environ, starting))
        seconds = time.perf_counter() - started
        template = path_template(environ)
        status = statuses[0] if statuses else 0
        read = environ["REQUEST_METHOD"] == "GET" and status == 200
        call = CrmCall(
            method=environ["REQUEST_METHOD"],
            template=template,
            path=environ.get("PATH_INFO", ""),
            query=environ.get("QUERY_STRING", ""),
            status=status,
            seconds=seconds,
            records=records_in(template, body) if read else (),
        )
        with self._lock:
            self._calls.append(call)
        return [body]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
