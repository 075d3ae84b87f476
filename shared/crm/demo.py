"""Load demo CRM data from a JSON file (format in docs/crm-schema.md): organisations, logins and records.

`make run` loads devstack/demo_data.json; a CRM team can point it at their own file. Plain passwords in the
file are hashed on load (Django pbkdf2_sha256), and the logins are returned so they can be printed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared import clock
from shared.auth.passwords import DEFAULT_ITERATIONS, hash_password
from shared.crm.records import (
    DEAL_STAGES,
    FILE_STATUSES,
    ISSUE_STATUSES,
    LEAD_STATUSES,
    ORDER_STATUSES,
    CrmFile,
    CrmRecord,
    Customer,
    Deal,
    Issue,
    Lead,
    Order,
    Payment,
)
from shared.crm.users import CrmUser
from shared.roles import Role
from shared.store.crm.records import BatchWriter
from shared.store.crm.users import CRM_USERS

DEMO_DATA_PATH = Path(__file__).resolve().parents[2] / "devstack" / "demo_data.json"

Login = tuple[str, str, str]

# The record lists of an organisation, in the order they are loaded (payments need their orders first).
SECTIONS: tuple[tuple[str, type[CrmRecord]], ...] = (
    ("customers", Customer),
    ("leads", Lead),
    ("deals", Deal),
    ("issues", Issue),
    ("orders", Order),
    ("payments", Payment),
    ("files", CrmFile),
)
ALLOWED_VALUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "leads": ("status", LEAD_STATUSES),
    "deals": ("stage", DEAL_STAGES),
    "issues": ("status", ISSUE_STATUSES),
    "orders": ("status", ORDER_STATUSES),
    "files": ("status", FILE_STATUSES),
}


class DemoDataError(ValueError):
    """The demo file is not in the documented format; the message says where."""


def load_demo_data(path: Path | str, iterations: int | None = None) -> list[Login]:
    """Write the file's organisations into Firestore; returns (email, password, role) of each plain-password login.

    Documents get fixed ids (given, or '<org>-<kind>-<number>'), so loading twice overwrites instead of
    duplicating. Sequence counters are set to the highest number loaded.
    """
    data = read_demo_file(path)
    writer = BatchWriter()
    logins = write_organisations(data, password_rounds(data, iterations), writer)
    writer.commit()
    return logins


def read_demo_file(path: Path | str) -> dict[str, Any]:
    """The file's JSON, checked to be an object with an 'organisations' list; DemoDataError otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DemoDataError(f"cannot read demo data {path}: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("organisations"), list):
        raise DemoDataError(f"{path}: expected an object with an 'organisations' list")
    return data


def password_rounds(data: dict[str, Any], iterations: int | None = None) -> int:
    """The PBKDF2 rounds the file's plain passwords are hashed with: `iterations`, the file's, or the default."""
    return iterations or int(data.get("password_iterations") or DEFAULT_ITERATIONS)


def write_organisations(data: dict[str, Any], rounds: int, writer: BatchWriter) -> list[Login]:
    """Write every organisation of a read demo file through `writer` (not committed); the plain-password logins."""
    logins: list[Login] = []
    now = clock.now()
    for index, organisation in enumerate(data["organisations"]):
        logins += _load_organisation(organisation, f"organisations[{index}]", rounds, now, writer)
    return logins


def _load_organisation(
    organisation: dict[str, Any], where: str, iterations: int, now: dt.datetime, writer: BatchWriter
) -> list[Login]:
    org_id = organisation.get("id")
    if not isinstance(org_id, str) or not org_id:
        raise DemoDataError(f"{where}: 'id' (the org_id) is required")
    logins: list[Login] = []
    org_name = organisation.get("name")
    for position, user in enumerate(organisation.get("users", [])):
        user = {"org_name": org_name, **user} if org_name else dict(user)
        logins += _write_user(user, org_id, None, f"{where}.users[{position}]", iterations, writer)
    orders: dict[str, dict[str, Any]] = {}
    for section, model in SECTIONS:
        rows = [dict(row) for row in organisation.get(section, [])]
        documents = [_document(dict(row), org_id, now, f"{where}.{section}[{i}]") for i, row in enumerate(rows)]
        _number(documents, org_id, model)
        last = 0
        for position, (row, (doc_id, fields)) in enumerate(zip(rows, documents, strict=True)):
            place = f"{where}.{section}[{position}]"
            if model is Payment:
                _fill_from_order(fields, orders, place)
            _check(section, model, doc_id, fields, place)
            if model is Order:
                orders[doc_id] = fields
            if model is Customer and isinstance(row.get("login"), dict):
                login = {"role": Role.CUSTOMER.value, **({"org_name": org_name} if org_name else {}), **row["login"]}
                logins += _write_user(login, org_id, doc_id, f"{place}.login", iterations, writer)
            writer.set(model.collection, doc_id, fields)
            last = max(last, int(fields["number"]))
        if last:
            writer.set_sequence(org_id, model.collection, last, now)
    return logins


def _write_user(
    user: dict[str, Any], org_id: str, customer_id: str | None, where: str, iterations: int, writer: BatchWriter
) -> list[Login]:
    password = user.pop("password", None)
    email = str(user.get("email", "")).strip().lower()
    user_id = str(user.pop("id", "") or f"{org_id}-user-{email.replace('@', '-at-')}")
    fields: dict[str, Any] = {"is_active": True, **user, "email": email, "org_id": org_id}
    if customer_id is not None:
        fields["customer_id"] = customer_id
    if password is not None:
        fields["password_hash"] = hash_password(str(password), iterations)
    try:
        CrmUser.model_validate({**fields, "id": user_id})
    except ValidationError as error:
        raise DemoDataError(f"{where}: {_first_problem(error)}") from None
    writer.set(CRM_USERS, user_id, fields)
    return [(email, str(password), str(fields["role"]))] if password is not None else []


def _document(row: dict[str, Any], org_id: str, now: dt.datetime, where: str) -> tuple[str, dict[str, Any]]:
    """(document id or '', fields) with relative times turned into timestamps."""
    row.pop("login", None)
    doc_id = str(row.pop("id", "") or "")
    days_ago = row.pop("days_ago", None)
    closed_days_ago = row.pop("closed_days_ago", None)
    eta_hours = row.pop("eta_hours", None)
    for name in ("created_at", "updated_at", "closed_at", "eta"):
        if isinstance(row.get(name), str):
            row[name] = _timestamp(row[name], f"{where}.{name}")
    if days_ago is not None:
        row["created_at"] = now - dt.timedelta(days=float(days_ago))
    if closed_days_ago is not None:
        row["closed_at"] = now - dt.timedelta(days=float(closed_days_ago))
    if eta_hours is not None:
        row["eta"] = now + dt.timedelta(hours=float(eta_hours))
    row.setdefault("created_at", now)
    row.setdefault("updated_at", row["created_at"])
    row["org_id"] = org_id
    return doc_id, row


def _number(documents: list[tuple[str, dict[str, Any]]], org_id: str, model: type[CrmRecord]) -> None:
    """Give numbered-less records the next numbers, oldest first, and ids from them when missing."""
    taken = {int(fields["number"]) for _, fields in documents if isinstance(fields.get("number"), int)}
    following = max(taken, default=0)
    for index in sorted(range(len(documents)), key=lambda i: documents[i][1]["created_at"]):
        doc_id, fields = documents[index]
        if not isinstance(fields.get("number"), int):
            following += 1
            fields["number"] = following
        documents[index] = (doc_id or f"{org_id}-{model.noun}-{fields['number']}", fields)


def _fill_from_order(fields: dict[str, Any], orders: dict[str, dict[str, Any]], where: str) -> None:
    order = orders.get(str(fields.get("order_id")))
    if order is None:
        raise DemoDataError(f"{where}: order_id {fields.get('order_id')!r} is not an order of this organisation")
    fields.setdefault("customer_id", order.get("customer_id"))
    fields.setdefault("currency", order.get("currency"))


def _check(section: str, model: type[CrmRecord], doc_id: str, fields: dict[str, Any], where: str) -> None:
    try:
        model.model_validate({**fields, "id": doc_id})
    except ValidationError as error:
        raise DemoDataError(f"{where}: {_first_problem(error)}") from None
    if section in ALLOWED_VALUES:
        name, allowed = ALLOWED_VALUES[section]
        if name in fields and fields[name] not in allowed:
            raise DemoDataError(f"{where}: {name} {fields[name]!r} is not one of {', '.join(allowed)}")


def _timestamp(text: str, where: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DemoDataError(f"{where}: {text!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    return f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
