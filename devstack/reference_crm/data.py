"""The reference CRM's data: loaded from a demo data file, kept in memory, guarded by one lock."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.auth.passwords import hash_password
from shared.crm import demo
from shared.crm.records import CrmRecord
from shared.crm.users import CrmUser
from shared.store.crm.records import BatchWriter
from shared.store.crm.users import CRM_USERS

KINDS: dict[str, type[CrmRecord]] = dict(demo.SECTIONS)
"""The record kinds of the contract's paths ('deals' → Deal)."""


class StoredUser(CrmUser):
    """A login as the CRM keeps it: the user, and the hash of their password (which never leaves the CRM)."""

    password_hash: str = ""


@dataclass
class CrmData:
    """Users and records of every organisation. Hold `lock` around anything that reads and then writes."""

    users: dict[str, StoredUser] = field(default_factory=dict)
    records: dict[str, dict[str, CrmRecord]] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    last_numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    dummy_hash: str = ""
    """A hash of the same cost as the file's, checked for unknown emails so a refusal takes the same time."""
    lock: threading.RLock = field(default_factory=threading.RLock)

    def user_by_email(self, email: str) -> StoredUser | None:
        wanted = email.strip().lower()
        return next((user for user in self.users.values() if user.email == wanted), None)

    def next_number(self, org_id: str, kind: str) -> int:
        """The next short number of `kind` in the organisation (call with `lock` held)."""
        number = self.last_numbers.get((org_id, kind), 0) + 1
        self.last_numbers[(org_id, kind)] = number
        return number


class _MemoryWriter(BatchWriter):
    """What shared/crm/demo.py writes to Firestore, kept in memory instead (same format, same checks)."""

    def __init__(self, data: CrmData) -> None:  # no Firestore client: nothing here is written to it
        self._data = data

    def set(self, collection: str, doc_id: str, fields: dict[str, Any]) -> None:
        if collection == CRM_USERS:
            self._data.users[doc_id] = StoredUser.model_validate({**fields, "id": doc_id})
        else:
            self._data.records[collection][doc_id] = KINDS[collection].model_validate({**fields, "id": doc_id})

    def set_sequence(self, org_id: str, collection: str, last_number: int, now: dt.datetime) -> None:
        self._data.last_numbers[(org_id, collection)] = last_number

    def commit(self) -> None:
        pass


def load(path: Path | str) -> CrmData:
    """The file's organisations, users (plain passwords hashed as `make run` does) and records; DemoDataError if bad.

    The file is parsed by shared/crm/demo.py itself, so the reference server and `make run`'s Firestore load cannot
    read one file two ways.
    """
    return load_with_logins(path)[0]


def load_with_logins(path: Path | str) -> tuple[CrmData, list[demo.Login]]:
    """load(), and the (email, password, role) of each plain-password login of the file."""
    raw = demo.read_demo_file(path)
    rounds = demo.password_rounds(raw)
    data = CrmData(dummy_hash=hash_password(secrets.token_urlsafe(32), rounds))  # a password nobody knows
    logins = demo.write_organisations(raw, rounds, _MemoryWriter(data))
    return data, logins
