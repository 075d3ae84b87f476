"""Who may do what (docs/crm-schema.md's permission table), enforced by the reference CRM as the contract asks."""

from __future__ import annotations

from devstack.reference_crm.data import CrmData
from shared.crm.records import CrmRecord
from shared.crm.users import CrmUser
from shared.roles import STAFF, Role

EVERYONE = frozenset(Role)
VENDOR = frozenset({Role.VENDOR})
READ: dict[str, frozenset[Role]] = {
    "customers": EVERYONE,
    "leads": STAFF,
    "deals": STAFF,
    "issues": EVERYONE,
    "orders": EVERYONE,
    "payments": EVERYONE,
    "files": EVERYONE,
}
CREATE: dict[str, frozenset[Role]] = {
    "customers": VENDOR,
    "leads": STAFF,
    "deals": STAFF,
    "issues": EVERYONE,
    "payments": STAFF,
}
UPDATE: dict[str, frozenset[Role]] = {"customers": VENDOR, "leads": STAFF, "deals": STAFF, "issues": STAFF}
BY_CUSTOMER_ASSIGNMENT = frozenset({"orders", "payments", "files"})
"""Kinds an employee sees only for customers assigned to them."""


def customer_of(data: CrmData, record: CrmRecord) -> CrmRecord | None:
    """The customer record a record belongs to (a customer is its own)."""
    customer_id = record.id if record.collection == "customers" else getattr(record, "customer_id", None)
    return data.records["customers"].get(customer_id) if customer_id else None


def visible(data: CrmData, caller: CrmUser, kind: str, record: CrmRecord) -> bool:
    """True when the caller may see the record: their organisation, and for customers and employees their share."""
    if record.org_id != caller.org_id or caller.role not in READ[kind]:
        return False
    if caller.role is Role.CUSTOMER:
        own = record.id if kind == "customers" else getattr(record, "customer_id", None)
        return own is not None and own == caller.customer_id
    if caller.role is Role.EMPLOYEE and kind in BY_CUSTOMER_ASSIGNMENT:
        customer = customer_of(data, record)
        return customer is not None and getattr(customer, "assigned_to", None) == caller.id
    return True


def may_update(caller: CrmUser, kind: str, record: CrmRecord, fields: set[str]) -> bool:
    """Vendors change anything changeable; employees only what is assigned to them, and never its assignment."""
    if caller.role not in UPDATE.get(kind, frozenset()):
        return False
    if caller.role is Role.VENDOR:
        return True
    return getattr(record, "assigned_to", None) == caller.id and "assigned_to" not in fields
