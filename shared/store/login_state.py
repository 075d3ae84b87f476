"""Login-over-chat state: the flow in progress (`tg_login_flows`) and failure counters (`tg_login_failures`)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.store import documents
from shared.store.db import Collections, get_db
from shared.store.documents import Transaction, Writes

FLOW_LIFETIME = dt.timedelta(minutes=10)
MAX_FAILURES = 3
LOCKOUT = dt.timedelta(minutes=15)


class LoginFlow(BaseModel):
    """A login in progress for one Telegram user."""

    model_config = ConfigDict(extra="ignore")

    step: Literal["email", "password", "locked"]
    """"locked": the password was refused as locked out until expires_at; what follows may be the password again."""
    email: str | None = None
    started_at: dt.datetime
    expires_at: dt.datetime

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at


class FailureCounter(BaseModel):
    """Failed logins of one Telegram user or one email within a window; a lock once there are too many."""

    model_config = ConfigDict(extra="ignore")

    failures: int = 0
    window_started_at: dt.datetime | None = None
    locked_until: dt.datetime | None = None
    expires_at: dt.datetime | None = None

    def locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: dt.datetime) -> FailureCounter:
        """This counter with one more failure, locked when it reaches MAX_FAILURES within LOCKOUT."""
        fresh = self.window_started_at is None or now - self.window_started_at >= LOCKOUT
        failures = 1 if fresh else self.failures + 1
        window = now if fresh else self.window_started_at
        if failures >= MAX_FAILURES:
            return FailureCounter(
                failures=0, window_started_at=None, locked_until=now + LOCKOUT, expires_at=now + LOCKOUT
            )
        return FailureCounter(failures=failures, window_started_at=window, locked_until=None, expires_at=now + LOCKOUT)


def flow_ref(telegram_user_id: int) -> Any:
    return get_db().collection(Collections.LOGIN_FLOWS).document(str(telegram_user_id))


def telegram_failures_ref(telegram_user_id: int) -> Any:
    return get_db().collection(Collections.LOGIN_FAILURES).document(f"tg-{telegram_user_id}")


def email_failures_ref(email: str) -> Any:
    digest = hashlib.sha256(email.lower().encode()).hexdigest()
    return get_db().collection(Collections.LOGIN_FAILURES).document(f"email-{digest}")


def read_flow(telegram_user_id: int, transaction: Transaction | None = None) -> LoginFlow | None:
    snapshot = documents.read(flow_ref(telegram_user_id), transaction=transaction)
    return LoginFlow.model_validate(snapshot.to_dict()) if snapshot.exists else None


def save_flow(telegram_user_id: int, flow: LoginFlow, writes: Writes | None = None) -> None:
    documents.write(flow_ref(telegram_user_id), flow.model_dump(), writes=writes)


def delete_flow(telegram_user_id: int, writes: Writes | None = None) -> None:
    documents.delete(flow_ref(telegram_user_id), writes=writes)


def read_counter(ref: Any, transaction: Transaction | None = None) -> FailureCounter:
    snapshot = documents.read(ref, transaction=transaction)
    return FailureCounter.model_validate(snapshot.to_dict()) if snapshot.exists else FailureCounter()


def save_counter(ref: Any, counter: FailureCounter, writes: Writes | None = None) -> None:
    documents.write(ref, counter.model_dump(), writes=writes)


def delete_counter(ref: Any, writes: Writes | None = None) -> None:
    documents.delete(ref, writes=writes)
