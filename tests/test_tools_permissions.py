"""The permission matrix: every tool, as every role, on its own / a same-organisation other / another
organisation's record, over both adapters of the CRM port (tests/crm_world.py), checked against the table of
docs/crm-schema.md.

Allowed → the right data (or the right change, and nothing else changed). Refused → a "not permitted"
result, a `tool_refused` audit entry, and not a single CRM document changed (preview included).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from shared.crm.backend import get_crm
from shared.crm.tools.changes import Change
from shared.crm.tools.registry import Caller, ToolError, ToolResult, call_tool, plan_tool_call, tools
from shared.roles import Role
from shared.store.db import get_db
from tests.crm_world import BACKENDS, TRUSTING_REST, CrmWorld, RestWorld

pytestmark = pytest.mark.emulator

ORG, OTHER_ORG = "org-1", "org-2"
ROLES = (Role.VENDOR, Role.EMPLOYEE, Role.CUSTOMER)
CALLERS = {
    Role.VENDOR: Caller("u-vendor", Role.VENDOR, ORG, telegram_user_id=101, name="Vera"),
    Role.EMPLOYEE: Caller("u-emp", Role.EMPLOYEE, ORG, telegram_user_id=102, name="Ed"),
    Role.CUSTOMER: Caller("u-cust", Role.CUSTOMER, ORG, customer_id="c-own", telegram_user_id=103, name="Cora"),
}
# own: the caller's (assigned to the employee, of the customer); other: same organisation, someone else's
# (assigned to the other employee, of another customer); x: another organisation's.
TARGETS = ("own", "other", "x")
CRM_COLLECTIONS = ("customers", "leads", "deals", "issues", "orders", "payments", "files", "crm_sequences", "crm_users")

# For each tool and target: the outcome for vendor, employee, customer.
#   O = allowed, with the right data or change;  H = allowed, but the target is not in the result;
#   D = refused: "not permitted", audited, nothing changed;
#   N = refused with the answer a missing record gets ("there is no order 2"), audited, nothing changed: a record the
#       caller may not see is never told apart from one that does not exist.
TABLE = """
tool                    own   other   x
list_customers          OOD   OOD    HHD
get_customer            OOO   OON    NNN
create_customer         ODD   ODD    DDD
list_leads              OOD   OOD    HHD
create_lead             OOD   ODD    DDD
update_lead_status      OOD   ODD    NND
list_deals              OOD   OOD    NND
get_deal                OOD   OOD    NND
create_deal             OOD   OOD    NND
update_deal_stage       OOD   ODD    NND
list_issues             OOO   OON    NNN
create_issue            OOO   OON    NNN
update_issue_status     OOD   ODD    NND
list_orders             OOO   ODN    NNN
get_order               OOO   ONN    NNN
list_payments           OOO   ODN    NNN
record_payment          OOD   OND    NND
list_files              OOO   ODN    NNN
get_statistics          OOD   OOD    OOD
delete_record           ODD   ODD    NDD
assign_record           ODD   ODD    NDD
"""

USERS = {
    "u-vendor": ("vendor@one.example", "vendor", ORG, None),
    "u-emp": ("emp@one.example", "employee", ORG, None),
    "u-emp2": ("emp2@one.example", "employee", ORG, None),
    "u-cust": ("cust@one.example", "customer", ORG, "c-own"),
    "u-cust2": ("cust2@one.example", "customer", ORG, "c-other"),
    "u-vendor-x": ("vendor@two.example", "vendor", OTHER_ORG, None),
}
OWNERS = {
    "own": ("u-emp", "c-own", ORG, 1),
    "other": ("u-emp2", "c-other", ORG, 2),
    "x": ("u-vendor-x", "c-x", OTHER_ORG, 1),
}
# An email naming a staff member, by target: of the caller's organisation, or of the other one.
STAFF_EMAIL = {"own": "emp@one.example", "other": "emp2@one.example", "x": "vendor@two.example"}


def seed(world: CrmWorld) -> None:
    """Two organisations: in org-1 an own and an other record of every kind, in org-2 one of each."""
    base = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
    for user_id, (email, role, org, customer_id) in USERS.items():
        fields = {"email": email, "name": user_id, "role": role, "org_id": org, "is_active": True, "password_hash": ""}
        if customer_id:
            fields["customer_id"] = customer_id
        world.add_user(user_id, fields)
    for index, (target, (owner, customer, org, number)) in enumerate(OWNERS.items()):
        at = base + dt.timedelta(hours=index)
        common = {"org_id": org, "number": number, "created_at": at, "updated_at": at}
        records: dict[str, tuple[str, dict[str, Any]]] = {
            "customers": (
                customer,
                {"name": f"Customer {target}", "email": f"{target}@c.example", "assigned_to": owner},
            ),
            "leads": (
                f"l-{target}",
                {"name": f"Lead {target}", "source": "LinkedIn", "status": "new", "assigned_to": owner},
            ),
            "deals": (
                f"d-{target}",
                {
                    "title": f"Deal {target}",
                    "value": 1000.0,
                    "currency": "EUR",
                    "stage": "proposal",
                    "customer_id": customer,
                    "assigned_to": owner,
                },
            ),
            "issues": (
                f"i-{target}",
                {
                    "title": f"Issue {target}",
                    "description": "",
                    "priority": "medium",
                    "status": "open",
                    "customer_id": customer,
                    "assigned_to": owner,
                },
            ),
            "orders": (
                f"o-{target}",
                {"customer_id": customer, "status": "confirmed", "total": 500.0, "currency": "EUR"},
            ),
            "payments": (
                f"p-{target}",
                {
                    "order_id": f"o-{target}",
                    "customer_id": customer,
                    "amount": 100.0,
                    "currency": "EUR",
                    "method": "card",
                    "recorded_by": owner,
                },
            ),
            "files": (f"f-{target}", {"customer_id": customer, "name": f"{target}.bin", "status": "processing"}),
        }
        for collection, (doc_id, data) in records.items():
            world.add_record(collection, doc_id, {**data, **common})
    for org, last in ((ORG, 2), (OTHER_ORG, 1)):
        for collection in ("customers", "leads", "deals", "issues", "orders", "payments", "files"):
            world.set_sequence(org, collection, last)


def trusting(world: CrmWorld) -> bool:
    """The reference CRM checks nothing on reads: whatever the caller may not see, the bot must refuse itself."""
    return isinstance(world, RestWorld) and world.crm.trusting


def refusals(tool: str) -> list[dict[str, Any]]:
    entries = [d.to_dict() or {} for d in get_db().collection("tg_audit").stream()]
    return [e for e in entries if e["event"] == "tool_refused" and e["details"]["tool"] == tool]


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, set[str]]:
    """Per collection, the ids of documents added, removed or modified."""
    differences = {}
    for name in CRM_COLLECTIONS:
        ids = set(before[name]) | set(after[name])
        moved = {doc_id for doc_id in ids if before[name].get(doc_id) != after[name].get(doc_id)}
        if moved:
            differences[name] = moved
    return differences


# ----- what each tool is called with, and what "allowed" must look like -----

Check = Callable[[str, ToolResult, dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    args: Callable[[str], dict[str, Any]]
    check: Check


def listed(prefix: str) -> Check:
    def check(target: str, result: ToolResult, before: dict[str, Any], after: dict[str, Any]) -> None:
        ids = [item["id"] for item in result["items"]]
        assert f"{prefix}{target}" in ids
        assert not [i for i in ids if i.endswith("-x") or i == "c-x"], "another organisation's record leaked"
        assert changed(before, after) == {}

    return check


def got(key: str, prefix: str) -> Check:
    def check(target: str, result: ToolResult, before: dict[str, Any], after: dict[str, Any]) -> None:
        assert result[key]["id"] == f"{prefix}{target}"
        assert changed(before, after) == {}

    return check


def created(collection: str, **expected: Any) -> Check:
    def check(target: str, result: ToolResult, before: dict[str, Any], after: dict[str, Any]) -> None:
        new_id = result["created"]["id"]
        assert changed(before, after) == {collection: {new_id}, "crm_sequences": {f"{ORG}:{collection}"}}
        document = after[collection][new_id]
        assert document["org_id"] == ORG
        assert document["number"] == 3
        wanted = {key: value(target) if callable(value) else value for key, value in expected.items()}
        assert {key: document.get(key) for key in wanted} == wanted

    return check


def updated(collection: str, prefix: str, **expected: Any) -> Check:
    def check(target: str, result: ToolResult, before: dict[str, Any], after: dict[str, Any]) -> None:
        doc_id = f"{prefix}{target}"
        assert result["updated"]["id"] == doc_id
        assert changed(before, after) == {collection: {doc_id}}
        assert {key: after[collection][doc_id][key] for key in expected} == expected

    return check


def deleted(collection: str, prefix: str) -> Check:
    def check(target: str, result: ToolResult, before: dict[str, Any], after: dict[str, Any]) -> None:
        assert changed(before, after) == {collection: {f"{prefix}{target}"}}
        assert f"{prefix}{target}" not in after[collection]

    return check


def statistics_of_org_1(target: str, result: ToolResult, before: dict[str, Any], after: dict[str, Any]) -> None:
    assert sum(result["deals_by_stage"].values()) == 2  # own + other, never org-2's
    assert result["orders_by_status"]["confirmed"] == 2
    assert changed(before, after) == {}


def customer_of(target: str) -> str:
    return OWNERS[target][1]


CASES: dict[str, Case] = {
    "list_customers": Case(lambda t: {"org_id": OTHER_ORG} if t == "x" else {}, listed("c-")),
    "get_customer": Case(lambda t: {"customer": customer_of(t)}, got("customer", "c-")),
    "create_customer": Case(
        lambda t: {"name": "New customer", "assigned_to_email": STAFF_EMAIL[t] if t != "own" else None},
        created("customers", name="New customer", assigned_to=lambda t: "u-vendor" if t == "own" else "u-emp2"),
    ),
    "list_leads": Case(lambda t: {"org_id": OTHER_ORG, "assigned_to": "u-vendor-x"} if t == "x" else {}, listed("l-")),
    "create_lead": Case(
        lambda t: {"name": "Jane", "source": "LinkedIn", "assigned_to_email": STAFF_EMAIL[t] if t != "own" else None},
        created("leads", name="Jane", source="LinkedIn", status="new"),
    ),
    "update_lead_status": Case(
        lambda t: {"lead": f"l-{t}", "status": "qualified"}, updated("leads", "l-", status="qualified")
    ),
    "list_deals": Case(lambda t: {"customer": customer_of(t)}, listed("d-")),
    "get_deal": Case(lambda t: {"deal": f"d-{t}"}, got("deal", "d-")),
    "create_deal": Case(
        lambda t: {"title": "New deal", "value": 250, "customer": customer_of(t)},
        created("deals", title="New deal", value=250.0, stage="prospecting", customer_id=customer_of),
    ),
    "update_deal_stage": Case(
        lambda t: {"deal": f"d-{t}", "stage": "negotiation"}, updated("deals", "d-", stage="negotiation")
    ),
    "list_issues": Case(lambda t: {"customer": customer_of(t)}, listed("i-")),
    "create_issue": Case(
        lambda t: {"title": "Login problems", "customer": customer_of(t)},
        created("issues", title="Login problems", status="open", customer_id=customer_of),
    ),
    "update_issue_status": Case(
        lambda t: {"issue": f"i-{t}", "status": "resolved"}, updated("issues", "i-", status="resolved")
    ),
    "list_orders": Case(lambda t: {"customer": customer_of(t)}, listed("o-")),
    "get_order": Case(lambda t: {"order": f"o-{t}"}, got("order", "o-")),
    "list_payments": Case(lambda t: {"customer": customer_of(t)}, listed("p-")),
    "record_payment": Case(
        lambda t: {"order": f"o-{t}", "amount": 50, "method": "cash"},
        created("payments", order_id=lambda t: f"o-{t}", customer_id=customer_of, amount=50.0, currency="EUR"),
    ),
    "list_files": Case(lambda t: {"customer": customer_of(t)}, listed("f-")),
    "get_statistics": Case(lambda t: {"org_id": OTHER_ORG} if t == "x" else {}, statistics_of_org_1),
    "delete_record": Case(lambda t: {"kind": "deal", "record": f"d-{t}"}, deleted("deals", "d-")),
    "assign_record": Case(
        lambda t: {"kind": "lead", "record": f"l-{t}", "assignee_email": "vendor@one.example"},
        updated("leads", "l-", assigned_to="u-vendor"),
    ),
}


def refused_as(expected: str, result: ToolResult) -> ToolResult:
    """What a refusal of kind D or N must be exactly (nothing that tells a hidden record from a missing one)."""
    if expected == "D":
        assert result.get("detail"), result
        return {"ok": False, "error": "not permitted", "detail": result["detail"]}
    assert str(result.get("error", "")).startswith("there is no "), result
    return {"ok": False, "error": result["error"]}


def matrix() -> list[Any]:
    rows = [line.split() for line in TABLE.strip().splitlines()[1:]]
    params = []
    for tool, *outcomes in rows:
        for target, outcome in zip(TARGETS, outcomes, strict=True):
            for role, expected in zip(ROLES, outcome, strict=True):
                params.append(pytest.param(tool, target, role, expected, id=f"{tool}-{target}-{role.value}-{expected}"))
    return params


def test_the_table_covers_every_registered_tool_exactly_once() -> None:
    in_table = [line.split()[0] for line in TABLE.strip().splitlines()[1:]]
    assert sorted(in_table) == sorted(tool.name for tool in tools.all())
    assert sorted(CASES) == sorted(in_table)


@pytest.mark.parametrize("crm_world", [*BACKENDS, TRUSTING_REST], indirect=True)
@pytest.mark.parametrize(("tool", "target", "role", "expected"), matrix())
def test_permission(crm_world: CrmWorld, tool: str, target: str, role: Role, expected: str) -> None:
    seed(crm_world)
    caller = CALLERS[role]
    case = CASES[tool]
    args = case.args(target)
    before = crm_world.snapshot()
    changes_data = tools.get(tool).changes_data  # type: ignore[union-attr]

    if changes_data:
        planned = plan_tool_call(caller, tool, args)
        if expected in "DN":
            assert isinstance(planned, ToolError), planned
            assert planned.for_model() == refused_as(expected, planned.for_model())
        else:
            assert isinstance(planned, Change), planned
            assert planned.org_id == ORG
        assert crm_world.snapshot() == before, "a preview changed data"

    result = call_tool(caller, tool, args)
    after = crm_world.snapshot()

    if expected in "DN":
        assert result == refused_as(expected, result)
        audited = refusals(tool)
        if expected == "D" or crm_world.backend == "firestore" or (trusting(crm_world) and target != "x"):
            assert len(audited) == (2 if changes_data else 1)
        # else: a REST CRM never shows the bot a record the caller may not see (a 404), nor one of another
        # organisation even when it checks nothing else: nothing to audit
        assert {entry["crm_user_id"] for entry in audited} <= {caller.crm_user_id}
        assert {entry["telegram_user_id"] for entry in audited} <= {caller.telegram_user_id}
        assert after == before, "a refused call changed data"
        return
    assert result["ok"] is True, result
    assert refusals(tool) == []
    if expected == "H":
        assert all(not item["id"].endswith("-x") and item["id"] != "c-x" for item in result["items"])
        assert after == before
        return
    case.check(target, result, before, after)


def test_a_record_you_may_not_see_gets_the_answer_a_missing_one_gets(crm_world: CrmWorld) -> None:
    """Found by a review: another customer's order 2 was 'customers can only see their own orders', order 3 'there is
    no order 3', and another organisation's id 'is not in your organisation'."""
    seed(crm_world)
    customer = CALLERS[Role.CUSTOMER]
    answers = {
        reference: call_tool(customer, "get_order", {"order": reference}) for reference in ("2", "3", "o-x", "o-0")
    }
    assert answers == {
        "2": {"ok": False, "error": "there is no order 2"},  # the other customer's
        "3": {"ok": False, "error": "there is no order 3"},  # no such order
        "o-x": {"ok": False, "error": "there is no order with the id o-x"},  # another organisation's
        "o-0": {"ok": False, "error": "there is no order with the id o-0"},  # no such id
    }
    reasons = sorted(entry["details"]["reason"] for entry in refusals("get_order"))
    if crm_world.backend == "firestore":
        assert reasons == ["customers can only see their own orders", "order o-x is not in your organisation"]
    else:  # the CRM hid both (404), so the bot never saw a record to refuse
        assert reasons == []


def test_the_rest_world_reaches_the_reference_crm_over_http(crm_world: CrmWorld) -> None:
    """The matrix's `rest` runs are the bot's HTTP client talking to the reference CRM, not the emulator."""
    seed(crm_world)
    result = call_tool(CALLERS[Role.VENDOR], "get_deal", {"deal": "d-own"})
    assert result["deal"]["id"] == "d-own"
    assert type(get_crm()).__name__ == {"firestore": "FirestoreCrm", "rest": "RestCrm"}[crm_world.backend]
    if isinstance(crm_world, RestWorld):
        assert get_db().collection("deals").document("d-own").get().exists is False
