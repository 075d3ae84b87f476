"""What the checks write: a test record of each kind the contract creates, and the one field each change sets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from devstack.check_crm.contract import Contract
from devstack.check_crm.run import MARKER, CheckRun, noun

LABELS = {"customers": "name", "leads": "name", "deals": "title", "issues": "title", "payments": "method"}
"""The text field of each test record that names it, and that a create 'with another body' changes."""
CHANGED = {"customers": "assigned_to", "leads": "status", "deals": "stage", "issues": "status"}
"""The field a test change sets, of those the YAML's `{Kind}Change` allows."""
TARGETS: dict[str, tuple[str, ...]] = {
    "leads": ("contacted", "qualified"),
    "deals": ("qualification", "proposal"),
    "issues": ("in_progress", "resolved"),
}
"""Values a test change sets, the first that differs from the record's (customers: the test account, or null)."""


def creatable(contract: Contract, kind: str) -> bool:
    return f"create{noun(kind)}" in contract.operations


def changeable(contract: Contract, kind: str) -> bool:
    return f"update{noun(kind)}" in contract.operations


def new_record(run: CheckRun, kind: str) -> dict[str, Any] | None:
    """A test record's fields, named `check-crm ...`; None when it cannot be made (a payment with no order to pay)."""
    tag = uuid.uuid4().hex[:10]
    email = f"{MARKER}-{tag}@example.com"
    company = f"{MARKER} test company"
    if kind == "customers":
        return {"name": f"{MARKER} test customer {tag}", "email": email, "phone": "+15550100", "company": company}
    if kind == "leads":
        return {
            "name": f"{MARKER} test lead {tag}",
            "email": email,
            "company": company,
            "source": MARKER,
            "status": "new",
        }
    if kind == "deals":
        return {"title": f"{MARKER} test deal {tag}", "value": 1, "currency": "USD", "stage": "prospecting"}
    if kind == "issues":
        title = f"{MARKER} test issue {tag}"
        return {"title": title, "description": "Made by make check-crm, which deletes it again.", "priority": "low"}
    if kind == "payments":
        order = next(iter(run.listed.get("orders", [])), None)
        if order is None:
            return None
        currency = order.get("currency") or "USD"
        return {"order_id": order["id"], "amount": 1, "currency": currency, "method": f"{MARKER} {tag}"}
    return None


@dataclass(frozen=True)
class Change:
    """A test change of one field, from its `current` value to `target` (None: cleared)."""

    field: str
    current: Any
    target: Any

    def body(self, expected: Any) -> dict[str, Any]:
        """The PATCH body, expecting the field to be `expected` now."""
        written = {"clear": [self.field]} if self.target is None else {"set": {self.field: self.target}}
        return {**written, "expect": {self.field: expected}}


def change_of(run: CheckRun, kind: str, record: dict[str, Any]) -> Change:
    field = CHANGED[kind]
    current = record.get(field)
    targets = TARGETS.get(kind, (run.vendor.sub, None))
    return Change(field, current, next(value for value in targets if value != current))
