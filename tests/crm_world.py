"""The CRM a behaviour test runs against, over either adapter of the port: the `crm_world` fixture (tests/conftest.py).

- `firestore`: the CRM's collections in the emulator, written the way a CRM sharing our database writes them.
- `rest`: the reference CRM (devstack/reference_crm) on a loopback port, its data set up in its memory; the bot
  reaches it through its real HTTP client, signed tokens and all.

A test seeds users and records through the world, runs the bot, and reads the CRM's data back through it, so the
same assertions hold for both (aiogram's storage tests are the model).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from werkzeug.serving import BaseWSGIServer, make_server

from devstack.reference_crm.app import ReferenceCrm
from devstack.reference_crm.data import KINDS, CrmData, StoredUser
from shared.auth.passwords import hash_password
from shared.store.db import get_db

FAST_ITERATIONS = 1_000  # a real CRM uses 600k+; tests keep hashing cheap, the format is the same
BACKENDS = ("firestore", "rest")
TRUSTING_REST = "rest-trusting"
"""The reference CRM with `trusting` on: its reads check no permission and no filter."""
REFERENCE_SECRET = "test-signing-secret-of-the-reference-crm-32-bytes+"
SEQUENCES = "crm_sequences"
USERS = "crm_users"
Snapshot = dict[str, dict[str, dict[str, Any]]]
"""Per collection (the record kinds, crm_users, crm_sequences), each document's fields by id."""


class CrmWorld(Protocol):
    backend: str

    def add_user(self, user_id: str, fields: dict[str, Any]) -> None:
        """A CRM user with these fields (email, name, role, org_id, is_active, customer_id, password_hash)."""

    def change_user(self, user_id: str, **fields: Any) -> None: ...

    def add_record(self, kind: str, record_id: str, fields: dict[str, Any]) -> None:
        """A record of `kind` ('deals') with these fields (org_id, number, created_at... included)."""

    def set_sequence(self, org_id: str, kind: str, last_number: int) -> None:
        """The last short number given to `kind` in the organisation."""

    def record(self, kind: str, record_id: str) -> dict[str, Any] | None: ...

    def snapshot(self) -> Snapshot: ...


class FirestoreWorld:
    backend = "firestore"

    def add_user(self, user_id: str, fields: dict[str, Any]) -> None:
        get_db().collection(USERS).document(user_id).set(fields)

    def change_user(self, user_id: str, **fields: Any) -> None:
        get_db().collection(USERS).document(user_id).update(fields)

    def add_record(self, kind: str, record_id: str, fields: dict[str, Any]) -> None:
        get_db().collection(kind).document(record_id).set(fields)

    def set_sequence(self, org_id: str, kind: str, last_number: int) -> None:
        get_db().collection(SEQUENCES).document(f"{org_id}:{kind}").set({"last_number": last_number})

    def record(self, kind: str, record_id: str) -> dict[str, Any] | None:
        return get_db().collection(kind).document(record_id).get().to_dict()

    def snapshot(self) -> Snapshot:
        db = get_db()
        return {
            name: {d.id: d.to_dict() or {} for d in db.collection(name).stream()} for name in (*KINDS, USERS, SEQUENCES)
        }


class RestWorld:
    backend = "rest"

    def __init__(self, server: ReferenceServer) -> None:
        self.server = server
        self.crm = server.crm

    @property
    def data(self) -> CrmData:
        return self.crm.data

    def add_user(self, user_id: str, fields: dict[str, Any]) -> None:
        with self.data.lock:
            self.data.users[user_id] = StoredUser.model_validate({**fields, "id": user_id})

    def change_user(self, user_id: str, **fields: Any) -> None:
        with self.data.lock:
            user = self.data.users[user_id]
            self.data.users[user_id] = StoredUser.model_validate({**user.model_dump(), **fields})

    def add_record(self, kind: str, record_id: str, fields: dict[str, Any]) -> None:
        with self.data.lock:
            self.data.records[kind][record_id] = KINDS[kind].model_validate({**fields, "id": record_id})

    def set_sequence(self, org_id: str, kind: str, last_number: int) -> None:
        with self.data.lock:
            self.data.last_numbers[(org_id, kind)] = last_number

    def record(self, kind: str, record_id: str) -> dict[str, Any] | None:
        with self.data.lock:
            found = self.data.records[kind].get(record_id)
            return found.model_dump(exclude={"id"}) if found is not None else None

    def snapshot(self) -> Snapshot:
        with self.data.lock:
            taken: Snapshot = {
                kind: {key: record.model_dump(exclude={"id"}) for key, record in rows.items()}
                for kind, rows in self.data.records.items()
            }
            taken[USERS] = {key: user.model_dump(exclude={"id"}) for key, user in self.data.users.items()}
            taken[SEQUENCES] = {
                f"{org}:{kind}": {"last_number": last} for (org, kind), last in self.data.last_numbers.items()
            }
            return taken


@dataclass(frozen=True)
class Fault:
    """What the reference CRM answers instead to requests of `method` whose path starts with `path`: `status`
    with `body` (None: the real answer), after `delay` seconds."""

    method: str
    path: str
    status: int | None = None
    body: str = '{"status": 503, "title": "Unavailable"}'
    content_type: str = "application/problem+json"
    delay: float = 0.0


class ReferenceServer:
    """The reference CRM over an empty data set, served on a loopback port until `stop()`; `faults` make it
    misbehave the ways a real CRM can."""

    def __init__(self) -> None:
        data = CrmData(dummy_hash=hash_password("a password nobody knows", FAST_ITERATIONS))
        self.crm = ReferenceCrm(data, REFERENCE_SECRET, url="")
        self.faults: list[Fault] = []
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._answer, threaded=True)
        self.url = self.crm.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for fault in self.faults:
            if environ["REQUEST_METHOD"] == fault.method and environ["PATH_INFO"].startswith(fault.path):
                time.sleep(fault.delay)
                if fault.status is not None:
                    start_response(f"{fault.status} Fault", [("Content-Type", fault.content_type)])
                    return [fault.body.encode()]
        return self.crm(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def add_crm_account(
    world: CrmWorld,
    user_id: str,
    email: str,
    password: str = "correct horse",
    *,
    role: str = "vendor",
    name: str = "Test User",
    org_id: str = "org-1",
    is_active: bool = True,
    customer_id: str | None = None,
    password_hash: str | None = None,
) -> dict[str, Any]:
    """A CRM login in `world`, the way a CRM stores one: its fields, with a (cheap) hash of `password`."""
    fields: dict[str, Any] = {
        "email": email.lower(),
        "name": name,
        "role": role,
        "org_id": org_id,
        "password_hash": password_hash if password_hash is not None else hash_password(password, FAST_ITERATIONS),
        "is_active": is_active,
    }
    if customer_id is not None:
        fields["customer_id"] = customer_id
    world.add_user(user_id, fields)
    return fields
