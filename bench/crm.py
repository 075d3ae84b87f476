"""The CRM the benchmarks talk to: the demo organisation of `make run`, plus linked Telegram users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.stack import BENCH_ITERATIONS
from shared import clock
from shared.auth.passwords import hash_password
from shared.crm.backend import get_crm
from shared.crm.demo import DEMO_DATA_PATH, load_demo_data
from shared.store import links
from shared.store.links import Link
from tests.crm_data import add_crm_user

if TYPE_CHECKING:
    from devstack.reference_crm.data import CrmData

VENDOR = "demo-vendor"
EMPLOYEE = "demo-emp-ed"
CUSTOMER = "demo-org-user-alice-at-acme.example"
"""Alice Acme's CRM login (customer demo-cust-1), as the demo loader names it."""
ROLE_USERS = {"vendor": VENDOR, "employee": EMPLOYEE, "customer": CUSTOMER}
LOGIN_PASSWORD = "bench password"


def load_demo() -> None:
    """The demo organisations of devstack/demo_data.json (26 deals, 22 orders, ... in demo-org)."""
    load_demo_data(DEMO_DATA_PATH, iterations=BENCH_ITERATIONS)


def link(telegram_user_id: int, crm_user_id: str) -> Link:
    """Link a Telegram user (private chat id = user id) to an existing CRM user, as a finished login would."""
    user = get_crm().get_user(crm_user_id)
    if user is None:
        raise LookupError(f"no CRM user {crm_user_id}: load the demo data first")
    link = Link(
        telegram_user_id=telegram_user_id,
        chat_id=telegram_user_id,
        crm_user_id=user.id,
        role=user.role,
        org_id=user.org_id,
        name=user.name,
        email=user.email,
        customer_id=user.customer_id,
        linked_at=clock.now(),
    )
    links.save_link(link)
    return link


def add_login_accounts(count: int, prefix: str, reference: CrmData | None = None) -> list[str]:
    """`count` CRM vendor accounts nobody has linked yet (one per fresh user logging in); their emails. They go to
    Firestore's crm_users, or into the `reference` CRM's data when given (benchmark 6 over `rest`)."""
    emails = [f"{prefix}-{index}@bench.example" for index in range(count)]
    for index, email in enumerate(emails):
        add_user(f"{prefix}-{index}", email, role="vendor", name=f"Bench {index}", reference=reference)
    return emails


def add_user(
    user_id: str,
    email: str,
    *,
    role: str,
    name: str,
    customer_id: str | None = None,
    reference: CrmData | None = None,
) -> None:
    """A CRM user of demo-org whose password is LOGIN_PASSWORD, in Firestore or in the `reference` CRM's data."""
    if reference is None:
        add_crm_user(user_id, email, LOGIN_PASSWORD, role=role, name=name, org_id="demo-org", customer_id=customer_id)
        return
    from devstack.reference_crm.data import StoredUser

    fields = {"email": email.lower(), "name": name, "role": role, "org_id": "demo-org", "customer_id": customer_id}
    stored = StoredUser.model_validate(
        {**fields, "id": user_id, "password_hash": hash_password(LOGIN_PASSWORD, BENCH_ITERATIONS)}
    )
    with reference.lock:
        reference.users[user_id] = stored
