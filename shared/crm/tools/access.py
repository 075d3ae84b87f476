"""Who may see and change which record: the permission table of docs/crm-schema.md, in one module.

- vendor: everything in their organisation.
- employee: reads customers, leads, deals and issues of the organisation; orders, payments and files
  only of the customers assigned to them; changes only records assigned to them.
- customer: their own customer profile, orders, payments, files and issues.
Every lookup is limited to the caller's organisation; a record of another organisation named by id is
refused (and audited by run_tool).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from shared.crm.backend import get_crm
from shared.crm.records import CUSTOMER_ASSIGNED_TO, CrmRecord, Customer
from shared.crm.tools.arguments import reference_number
from shared.crm.tools.caller import Caller, ToolFailed, ToolHidden, ToolRefused
from shared.roles import STAFF, Role

R = TypeVar("R", bound=CrmRecord)


def find(model: type[R], caller: Caller, reference: str, visible: Callable[[R], None] | None = None) -> R:
    """The caller's organisation's record named by number ('deal 5', '#5', '5') or by document id.

    A record of another organisation, or one that `visible` refuses (raising ToolRefused), is answered exactly
    as a missing one, so the answer never tells whether it exists (the real reason is audited).
    """
    reference = reference.strip()
    if not reference:
        raise ToolFailed(f"say which {model.noun}: its number (e.g. 5) or id")
    number = reference_number(reference)
    crm = get_crm()
    record = crm.find_by_number(caller, model, number) if number is not None else None
    if record is None:
        record = crm.get_record(caller, model, reference)
    named = f"{model.noun} {number}" if number is not None else f"{model.noun} with the id {reference}"
    if record is None:
        raise ToolFailed(f"there is no {named}")
    try:
        ensure_same_org(caller, record)
        if visible is not None:
            visible(record)
    except (ToolRefused, ToolFailed) as refusal:  # failed: a customer account without a profile sees nothing
        raise ToolHidden(f"there is no {named}", str(refusal)) from None
    return record


def ensure_same_org(caller: Caller, record: CrmRecord) -> None:
    if record.org_id != caller.org_id:
        raise ToolRefused(f"{record.noun} {record.id} is not in your organisation")


def own_customer_id(caller: Caller) -> str:
    """A customer caller's customer record id (from their CRM account, never from arguments)."""
    if not caller.customer_id:
        raise ToolFailed("your CRM account is not linked to a customer profile; please contact support")
    return caller.customer_id


def ensure_customer_profile_visible(caller: Caller, customer: Customer) -> None:
    """Staff see every customer of their organisation; a customer only their own profile."""
    ensure_same_org(caller, customer)
    if caller.role is Role.CUSTOMER and customer.id != own_customer_id(caller):
        raise ToolRefused("customers can only see their own profile")


def find_customer(caller: Caller, reference: str) -> Customer:
    """A customer profile the caller may see (staff: their organisation's; a customer: their own)."""
    return find(Customer, caller, reference, lambda customer: ensure_customer_profile_visible(caller, customer))


def ensure_customer_data_visible(caller: Caller, customer_id: str | None, what: str) -> None:
    """Orders, payments and files: vendor all, employee of assigned customers, customer their own."""
    if caller.role is Role.VENDOR:
        return
    if caller.role is Role.CUSTOMER:
        if customer_id != own_customer_id(caller):
            raise ToolRefused(f"customers can only see their own {what}")
        return
    if not _assigned_to_caller(caller, customer_id):
        raise ToolRefused(f"employees can only see the {what} of customers assigned to them")


def ensure_may_change(caller: Caller, record: CrmRecord) -> None:
    """Vendors change anything in their organisation; employees only what is assigned to them."""
    ensure_same_org(caller, record)
    if caller.role is Role.VENDOR:
        return
    if caller.role is Role.EMPLOYEE and getattr(record, "assigned_to", None) == caller.crm_user_id:
        return
    if caller.role is Role.EMPLOYEE:
        raise ToolRefused(f"employees can only change records assigned to them; {record.label} is not")
    raise ToolRefused(f"customers cannot change {record.noun}s")


def ensure_may_record_payment(caller: Caller, customer_id: str | None) -> None:
    """Vendors record any payment; employees only for customers assigned to them."""
    if caller.role is Role.VENDOR:
        return
    if caller.role is Role.CUSTOMER:
        raise ToolRefused("customers cannot record payments")
    if not _assigned_to_caller(caller, customer_id):
        raise ToolRefused("employees can only record payments of customers assigned to them")


def _assigned_to_caller(caller: Caller, customer_id: str | None) -> bool:
    customer = get_crm().get_record(caller, Customer, customer_id) if customer_id else None
    return customer is not None and customer.org_id == caller.org_id and customer.assigned_to == caller.crm_user_id


def visible_customers(caller: Caller) -> dict[str, Any]:
    """The `equals` filter limiting orders, payments and files to the customers the caller may see (none for a
    vendor: the whole organisation)."""
    if caller.role is Role.VENDOR:
        return {}
    if caller.role is Role.CUSTOMER:
        return {"customer_id": own_customer_id(caller)}
    return {CUSTOMER_ASSIGNED_TO: caller.crm_user_id}


def assignee(caller: Caller, email: str | None) -> str:
    """Whom a new record is assigned to: the caller, or (vendors only) a staff member of the organisation."""
    if not email or not email.strip():
        return caller.crm_user_id
    return staff_member_id(caller, email)


def staff_member_id(caller: Caller, email: str) -> str:
    """The id of the active vendor or employee of the caller's organisation with this email (vendors only)."""
    if caller.role is not Role.VENDOR:
        raise ToolRefused("only the vendor can assign records to someone else")
    user = get_crm().find_user_by_email(email.strip())
    if user is None or user.org_id != caller.org_id or user.role not in STAFF or not user.is_active:
        # One answer for 'unknown' and 'another organisation', so emails of other organisations stay private.
        raise ToolRefused(f"{email.strip()} is not a staff member of your organisation")
    return user.id


def staff_name(user_id: str | None) -> str | None:
    """A staff member's name, for previews."""
    user = get_crm().get_user(user_id) if user_id else None
    return user.name if user else None


def person(caller: Caller, user_id: str | None) -> str:
    """Who a user id is, for previews: 'you', or a staff member's name."""
    if not user_id:
        return "nobody"
    if user_id == caller.crm_user_id:
        return "you"
    return staff_name(user_id) or user_id
