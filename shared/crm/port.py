"""The CRM port: every question the bot asks the CRM and every change it makes there, whichever CRM answers.

Two adapters implement it, chosen by `CRM_BACKEND` (shared/crm/backend.py): `firestore`, the CRM's collections in
the bot's own Firestore (docs/crm-schema.md), and `rest`, a CRM that keeps its own data and serves
docs/crm-connector.yaml. Nothing above this module knows which one runs.

Every record call names whom it acts for (`Acting`, a tool's Caller); `None` means the bot itself (its own
lookups: the session, notify's recipient). The bot checks every permission on what comes back, whichever adapter
answered (defence in depth: the REST CRM should check them too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from shared.crm.records.models import CrmRecord
from shared.crm.records.queries import Page, Where
from shared.crm.users import CrmUser
from shared.roles import Role

R = TypeVar("R", bound=CrmRecord)


class Acting(Protocol):
    """The CRM user a call acts for (a tool's Caller is one)."""

    @property
    def crm_user_id(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def org_id(self) -> str: ...


class CrmUnreachable(Exception):
    """The CRM could not answer: down, slow, busy, answering garbage, or configured wrong. Logged where it is
    raised; the message is for logs, never for a Telegram user."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy
        """True when the CRM asked the bot to slow down (429): worth trying again in a minute."""


class CrmRefused(Exception):
    """The CRM refused what the bot allowed (a 403): the two disagree on a permission. Logged as an error."""


class CrmRejected(ValueError):
    """The CRM refused a value the bot sent (a 422); `fields` names them when the CRM said which."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__(", ".join(fields) or "a field")
        self.fields = fields


class RecordChanged(Exception):
    """An update's precondition failed: the record is no longer as the change expected. `current` is the record
    as it is now, when the CRM said."""

    def __init__(self, record_id: str, current: CrmRecord | None) -> None:
        super().__init__(record_id)
        self.current = current


@dataclass(frozen=True)
class PeriodTotals:
    """One period's figures as the CRM counts them (the bot computes rates and changes itself)."""

    new_leads: int
    converted_leads: int
    deals_won: int
    revenue: dict[str, float]
    payments_count: int
    payments_total: dict[str, float]
    complete: bool = True
    """False when the sums cover only part of the records (the Firestore adapter caps what it reads)."""


@dataclass(frozen=True)
class CrmStatistics:
    """The pipeline now, by stage and status (every value, zeros included), and each period asked for."""

    deals_by_stage: dict[str, int]
    leads_by_status: dict[str, int]
    issues_by_status: dict[str, int]
    orders_by_status: dict[str, int]
    periods: list[PeriodTotals] = field(default_factory=list)


@dataclass(frozen=True)
class LoginAnswer:
    """What the CRM said to an email and a password: the user when both are right and the account active."""

    user: CrmUser | None
    account_id: str | None = None
    """For the audit of a refusal: the id of the account the email names, when the CRM tells (Firestore does;
    the REST contract's one uniform refusal does not)."""


class Crm(Protocol):
    """What the bot needs from a CRM (see the module's docstring)."""

    # ----- users: the bot's own lookups -----
    def get_user(self, user_id: str) -> CrmUser | None:
        """The CRM user with this id, or None (unknown, or not a user the bot can read)."""
        ...

    def find_user_by_email(self, email: str) -> CrmUser | None:
        """The CRM user with this email (compared lower-case), or None."""
        ...

    def check_login(self, email: str, password: str, verify: Callable[[str, str | None], bool]) -> LoginAnswer:
        """The password step's question. `verify(password, stored_hash)` checks a hash where the bot holds one (the
        Firestore adapter); a CRM that checks its own passwords (REST) never shows the bot a hash."""
        ...

    # ----- records, acting for a user (None: the bot itself) -----
    def get_record(self, acting: Acting | None, model: type[R], record_id: str) -> R | None:
        """The record with this id, or None. The caller checks its organisation."""
        ...

    def get_records(self, acting: Acting, model: type[R], ids: Iterable[str]) -> dict[str, R]:
        """Records by id; missing and unreadable ones are left out."""
        ...

    def find_by_number(self, acting: Acting, model: type[R], number: int) -> R | None:
        """The acting user's organisation's record with this short number ('deal 5'), or None."""
        ...

    def list_records(self, acting: Acting, model: type[R], where: Where, page_size: int, cursor: str | None) -> Page[R]:
        """One page of records matching `where`, newest first; InvalidCursor for a cursor it did not make."""
        ...

    def create_record(self, acting: Acting, model: type[R], fields: Mapping[str, Any], record_id: str) -> R:
        """Create a record of the acting user's organisation, once: `record_id` is the bot's key for it, so a create
        made again after a lost answer returns the record the first one made."""
        ...

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
        """Write `changes` and clear `cleared` only while the record holds `expect` and passes `check`.

        RecordGone when it is gone, RecordChanged when `expect` no longer holds; `check` raises to refuse.
        """
        ...

    def delete_record(self, acting: Acting, model: type[R], record_id: str, check: Callable[[R], None]) -> R:
        """Delete a record that passes `check`; returns what was deleted. RecordGone when it is gone already."""
        ...

    def statistics(self, acting: Acting, periods: Sequence[tuple[dt.datetime, dt.datetime]]) -> CrmStatistics:
        """The organisation's pipeline now and the figures of each [start, end) period."""
        ...
