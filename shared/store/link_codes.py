"""One-time deep-link codes (`tg_link_codes`), stored only as a SHA-256 of the code."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.store import documents
from shared.store.db import Collections, get_db
from shared.store.documents import Transaction, Writes

CODE_LIFETIME = dt.timedelta(minutes=10)


class LinkCode(BaseModel):
    model_config = ConfigDict(extra="ignore")

    crm_user_id: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None
    used_by_telegram_user_id: int | None = None

    def usable(self, now: dt.datetime) -> bool:
        return self.used_at is None and now < self.expires_at


def code_ref(code: str) -> Any:
    return get_db().collection(Collections.LINK_CODES).document(hashlib.sha256(code.encode()).hexdigest())


def save_code(code: str, link_code: LinkCode) -> None:
    documents.create(code_ref(code), link_code.model_dump())


def read_code(code: str, transaction: Transaction | None = None) -> LinkCode | None:
    snapshot = documents.read(code_ref(code), transaction=transaction)
    return LinkCode.model_validate(snapshot.to_dict()) if snapshot.exists else None


def mark_used(code: str, telegram_user_id: int, at: dt.datetime, writes: Writes | None = None) -> None:
    documents.update(code_ref(code), {"used_at": at, "used_by_telegram_user_id": telegram_user_id}, writes=writes)
