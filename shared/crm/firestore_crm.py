"""The CRM port over the CRM's collections in the bot's own Firestore (docs/crm-schema.md): `CRM_BACKEND=firestore`.

The CRM writes its users (with their password hashes) and records into our database; the bot reads and changes
them through shared/crm/records (queries and writes) and shared/store/crm. Whom a call acts for changes nothing
here: Firestore has no permissions of its own, and the bot checks every one on what comes back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from shared.crm.port import Acting, CrmStatistics, LoginAnswer, PeriodTotals, RecordChanged
from shared.crm.records import queries, writes
from shared.crm.records.models import (
    DEAL_STAGES,
    ISSUE_STATUSES,
    LEAD_STATUSES,
    ORDER_STATUSES,
    CrmRecord,
    Customer,
    Deal,
    Issue,
    Lead,
    Order,
    Payment,
)
from shared.crm.records.queries import CUSTOMER_ASSIGNED_TO, Page, Where
from shared.crm.users import CrmUser, parse_user
from shared.store.crm import users as stored_users

log = logging.getLogger(__name__)

R = TypeVar("R", bound=CrmRecord)

MAX_SUMMED_RECORDS = 5000
MAX_ASSIGNED_CUSTOMERS = 300
_PARALLEL_QUERIES = 8


class FirestoreCrm:
    """The port (shared/crm/port.py Crm) over our Firestore."""

    def get_user(self, user_id: str) -> CrmUser | None:
        return parse_user(stored_users.read_user(user_id))

    def find_user_by_email(self, email: str) -> CrmUser | None:
        return parse_user(stored_users.find_user_by_email(email))

    def check_login(self, email: str, password: str, verify: Callable[[str, str | None], bool]) -> LoginAnswer:
        account = stored_users.find_user_by_email(email)
        user = parse_user(account)
        stored_hash = account.get("password_hash") if account is not None and user is not None else None
        matches = verify(password, stored_hash if isinstance(stored_hash, str) else None)
        if matches and user is not None and user.is_active:
            return LoginAnswer(user, user.id)
        return LoginAnswer(None, user.id if user is not None else None)

    def get_record(self, acting: Acting | None, model: type[R], record_id: str) -> R | None:
        return queries.get_record(model, record_id)

    def get_records(self, acting: Acting, model: type[R], ids: Iterable[str]) -> dict[str, R]:
        return queries.get_records(model, ids)

    def find_by_number(self, acting: Acting, model: type[R], number: int) -> R | None:
        return queries.find_by_number(model, acting.org_id, number)

    def list_records(self, acting: Acting, model: type[R], where: Where, page_size: int, cursor: str | None) -> Page[R]:
        return queries.list_records(model, _customers_resolved(where), page_size, cursor)

    def create_record(self, acting: Acting, model: type[R], fields: Mapping[str, Any], record_id: str) -> R:
        return writes.create_record(model, acting.org_id, fields, record_id)

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
        def checked(current: R) -> None:
            check(current)
            if any(getattr(current, name, None) != value for name, value in expect.items()):
                raise RecordChanged(record_id, current)

        return writes.update_record(model, record_id, checked, changes, cleared)

    def delete_record(self, acting: Acting, model: type[R], record_id: str, check: Callable[[R], None]) -> R:
        return writes.delete_record(model, record_id, check)

    def statistics(self, acting: Acting, periods: Sequence[tuple[dt.datetime, dt.datetime]]) -> CrmStatistics:
        org = acting.org_id
        with ThreadPoolExecutor(_PARALLEL_QUERIES) as pool:

            def tally(model: type[CrmRecord], name: str, values: tuple[str, ...]) -> dict[str, Future[int]]:
                return {
                    value: pool.submit(queries.count_records, model, Where(org, equals={name: value}))
                    for value in values
                }

            deals, leads = tally(Deal, "stage", DEAL_STAGES), tally(Lead, "status", LEAD_STATUSES)
            issues, orders = tally(Issue, "status", ISSUE_STATUSES), tally(Order, "status", ORDER_STATUSES)
            figures = [pool.submit(_period_totals, org, start, end) for start, end in periods]
            return CrmStatistics(
                deals_by_stage=_counted(deals),
                leads_by_status=_counted(leads),
                issues_by_status=_counted(issues),
                orders_by_status=_counted(orders),
                periods=[future.result() for future in figures],
            )


def _customers_resolved(where: Where) -> Where:
    """`customer_assigned_to` (an employee's orders, payments, files) as a 'one of' their customers' ids."""
    assignee = where.equals.get(CUSTOMER_ASSIGNED_TO)
    if assignee is None:
        return where
    assigned = Where(where.org_id, equals={"assigned_to": assignee})
    ids = queries.record_ids(Customer, assigned, MAX_ASSIGNED_CUSTOMERS)
    if len(ids) == MAX_ASSIGNED_CUSTOMERS:
        log.warning("employee %s has %d+ customers: lists show only theirs", assignee, len(ids))
    equals = {name: value for name, value in where.equals.items() if name != CUSTOMER_ASSIGNED_TO}
    return dataclasses.replace(where, equals=equals, one_of={**where.one_of, "customer_id": ids})


def _counted(counts: dict[str, Future[int]]) -> dict[str, int]:
    return {value: count.result() for value, count in counts.items()}


def _period_totals(org_id: str, start: dt.datetime, end: dt.datetime) -> PeriodTotals:
    new_leads = queries.count_records(Lead, Where(org_id, since=start, before=end))
    converted = queries.count_records(Lead, Where(org_id, equals={"status": "converted"}, since=start, before=end))
    won, won_complete = queries.select_fields(
        Deal,
        Where(org_id, equals={"stage": "closed_won"}, range_field="closed_at", since=start, before=end),
        ["value", "currency"],
        MAX_SUMMED_RECORDS,
    )
    paid, paid_complete = queries.select_fields(
        Payment, Where(org_id, since=start, before=end), ["amount", "currency"], MAX_SUMMED_RECORDS
    )
    return PeriodTotals(
        new_leads=new_leads,
        converted_leads=converted,
        deals_won=len(won),
        revenue=_totals(won, "value"),
        payments_count=len(paid),
        payments_total=_totals(paid, "amount"),
        complete=won_complete and paid_complete,
    )


def _totals(rows: list[dict[str, Any]], name: str) -> dict[str, float]:
    """Sums per currency."""
    totals: dict[str, float] = {}
    for row in rows:
        amount = row.get(name)
        if isinstance(amount, int | float):
            currency = str(row.get("currency") or "?").upper()
            totals[currency] = round(totals.get(currency, 0.0) + float(amount), 2)
    return totals
