"""Cursors of list pages too long for a More button's callback_data (`tg_page_cursors`): a CRM's own cursors can be
any length, Telegram takes 64 bytes. The button carries a random key; the cursor waits here for a day."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared import clock
from shared.store import documents
from shared.store.db import Collections, get_db, is_document_id

CURSOR_LIFETIME = dt.timedelta(days=1)
KEY_BYTES = 12  # 16 characters of base64url


class PageCursor(BaseModel):
    model_config = ConfigDict(extra="ignore")

    telegram_user_id: int
    cursor: str
    expires_at: dt.datetime


def _ref(key: str) -> Any:
    return get_db().collection(Collections.PAGE_CURSORS).document(key)


def keep_cursor(telegram_user_id: int, cursor: str) -> str:
    """Keep a cursor for this user's next tap; returns the key its button carries."""
    key = secrets.token_urlsafe(KEY_BYTES)
    kept = PageCursor(telegram_user_id=telegram_user_id, cursor=cursor, expires_at=clock.now() + CURSOR_LIFETIME)
    documents.create(_ref(key), kept.model_dump())
    return key


def kept_cursor(telegram_user_id: int, key: str) -> str | None:
    """The cursor kept under this key for this user, while it has not expired; None otherwise."""
    if not is_document_id(key):
        return None
    snapshot = documents.read(_ref(key))
    if not snapshot.exists:
        return None
    kept = PageCursor.model_validate(snapshot.to_dict())
    if kept.telegram_user_id != telegram_user_id or kept.expires_at <= clock.now():
        return None
    return kept.cursor
