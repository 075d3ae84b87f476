"""CRM tools over both adapters of the CRM port (tests/crm_world.py): filters, paging and cursors, sorting,
statistics, sequence numbers, references, arguments that name another organisation; and, on the emulator only,
the Firestore adapter's own text scan and counters, schemas and the demo data loader."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from shared import clock
from shared.auth.passwords import verify_password
from shared.crm import demo
from shared.crm.periods import named_range
from shared.crm.records import queries
from shared.crm.tools.changes import Change
from shared.crm.tools.registry import Caller, ToolError, ToolResult, call_tool, plan_tool_call, run_tool, tools
from shared.crm.tools.results import RecordPage
from shared.crm.tools.statistics import Statistics
from shared.roles import Role
from shared.store.db import get_db
from tests.crm_world import CrmWorld, FirestoreWorld

pytestmark = pytest.mark.emulator

ORG = "org-1"
VENDOR = Caller("u-vendor", Role.VENDOR, ORG, telegram_user_id=1)
EMPLOYEE = Caller("u-emp", Role.EMPLOYEE, ORG, telegram_user_id=2)
CUSTOMER = Caller("u-cust", Role.CUSTOMER, ORG, customer_id="c-1", telegram_user_id=3)
T0 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)


FIRESTORE = FirestoreWorld()
"""For the tests of what only the Firestore adapter does (its text scan, its sequence counters)."""


@pytest.fixture
def crm_world(crm_world: CrmWorld) -> CrmWorld:
    """The CRM with the users the tests' callers act as (a REST CRM answers a token for an unknown user with 403)."""
    for caller in (VENDOR, EMPLOYEE, CUSTOMER, Caller("u-x", Role.VENDOR, "org-2"), Caller("u-c", Role.CUSTOMER, ORG)):
        crm_world.add_user(
            caller.crm_user_id,
            {
                "email": f"{caller.crm_user_id}@tools.example",
                "name": caller.crm_user_id,
                "role": caller.role.value,
                "org_id": caller.org_id,
                "customer_id": caller.customer_id or ("c-07" if caller.crm_user_id == "u-c" else None),
            },
        )
    return crm_world


def put(world: CrmWorld, collection: str, doc_id: str, **fields: Any) -> None:
    put_many(world, collection, {doc_id: fields})


def put_many(world: CrmWorld, collection: str, rows: dict[str, dict[str, Any]]) -> None:
    for doc_id, fields in rows.items():
        fields = {"org_id": ORG, "created_at": T0, **fields}
        fields.setdefault("updated_at", fields["created_at"])
        world.add_record(collection, doc_id, fields)


def add_staff(world: CrmWorld, user_id: str, email: str, role: str = "employee", org: str = ORG) -> None:
    world.add_user(user_id, {"email": email, "name": user_id.title(), "role": role, "org_id": org, "is_active": True})


def ok(caller: Caller, tool: str, args: dict[str, Any] | None = None) -> ToolResult:
    result = call_tool(caller, tool, args or {})
    assert result["ok"] is True, result
    return result


def ids(result: ToolResult) -> list[str]:
    return [item["id"] for item in result["items"]]


def preview(caller: Caller, tool: str, args: dict[str, Any]) -> str:
    """The Confirm preview of a data-changing call (it must be allowed)."""
    planned = plan_tool_call(caller, tool, args)
    assert isinstance(planned, Change), planned
    return planned.preview_html()


def walk(caller: Caller, tool: str, args: dict[str, Any]) -> list[list[str]]:
    """Every page of a list, following next_cursor."""
    pages = []
    cursor = None
    while True:
        result = ok(caller, tool, {**args, **({"cursor": cursor} if cursor else {})})
        pages.append(ids(result))
        cursor = result["next_cursor"]
        assert result["more"] is (cursor is not None)
        if cursor is None:
            return pages
        assert len(pages) < 50


# ----- paging, cursors, sorting -----


def test_pages_are_newest_first_capped_and_the_cursor_walks_them_without_gaps(crm_world: CrmWorld) -> None:
    put_many(
        crm_world,
        "deals",
        {f"deal-{i:02}": {"title": f"Deal {i}", "created_at": T0 + dt.timedelta(hours=i)} for i in range(23)},
    )
    pages = walk(VENDOR, "list_deals", {"page_size": 10})
    assert [len(page) for page in pages] == [10, 10, 3]
    assert sum(pages, []) == [f"deal-{i:02}" for i in reversed(range(23))]


def test_records_created_at_the_same_instant_are_neither_lost_nor_repeated_across_pages(crm_world: CrmWorld) -> None:
    put_many(crm_world, "leads", {f"lead-{i}": {"name": f"L{i}", "status": "new"} for i in range(7)})
    pages = walk(VENDOR, "list_leads", {"page_size": 2})
    flat = sum(pages, [])
    assert sorted(flat) == [f"lead-{i}" for i in range(7)]
    assert flat == sorted(flat, reverse=True)  # ties are ordered by id, newest-first direction


def test_page_size_is_capped_and_a_bad_cursor_is_an_error_not_a_crash(crm_world: CrmWorld) -> None:
    result = call_tool(VENDOR, "list_deals", {"page_size": 500})
    assert result["ok"] is False
    assert result["error"] == "invalid arguments"
    for cursor in ("garbage", "zz.", "!!.deal-1", "5.a/b"):
        result = call_tool(VENDOR, "list_deals", {"cursor": cursor})
        assert result == {"ok": False, "error": "that cursor is not valid: ask again without a cursor"}


def test_text_filter_is_case_insensitive_and_looks_in_several_fields(crm_world: CrmWorld) -> None:
    put_many(
        crm_world,
        "customers",
        {
            "c-1": {"name": "Alice Acme", "email": "alice@acme.example", "company": "ACME Corp"},
            "c-2": {"name": "Bob", "email": "bob@globex.example", "company": "Globex"},
            "c-3": {"name": "Carol", "email": "carol@example.com", "company": "Acme Tools"},
        },
    )
    assert sorted(ids(ok(VENDOR, "list_customers", {"text": "acme"}))) == ["c-1", "c-3"]
    assert ids(ok(VENDOR, "list_customers", {"text": "GLOBEX"})) == ["c-2"]
    assert ids(ok(VENDOR, "list_customers", {"text": "nobody"})) == []


def test_text_search_stops_at_the_scan_limit_and_the_cursor_continues_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "TEXT_SCAN_LIMIT", 6)
    monkeypatch.setattr(queries, "TEXT_SCAN_BATCH", 4)
    rows = {f"lead-{i:02}": {"name": f"Other {i}", "created_at": T0 + dt.timedelta(minutes=i)} for i in range(15)}
    rows["lead-00"]["name"] = "Needle"
    put_many(FIRESTORE, "leads", rows)
    first = ok(VENDOR, "list_leads", {"text": "needle"})
    assert first["items"] == []
    assert "note" in first
    found = []
    cursor = first["next_cursor"]
    while cursor:
        result = ok(VENDOR, "list_leads", {"text": "needle", "cursor": cursor})
        found += ids(result)
        cursor = result["next_cursor"]
    assert found == ["lead-00"]


def test_filters_by_status_stage_open_and_assigned_to_me(crm_world: CrmWorld) -> None:
    put_many(
        crm_world,
        "leads",
        {
            "l-new": {"name": "A", "status": "new", "assigned_to": "u-emp"},
            "l-qualified": {"name": "B", "status": "qualified", "assigned_to": "u-emp"},
            "l-lost": {"name": "C", "status": "lost", "assigned_to": "u-emp"},
            "l-theirs": {"name": "D", "status": "new", "assigned_to": "u-emp2"},
        },
    )
    assert sorted(ids(ok(EMPLOYEE, "list_leads", {"status": "new"}))) == ["l-new", "l-theirs"]
    assert sorted(ids(ok(EMPLOYEE, "list_leads", {"open_only": True, "assigned_to_me": True}))) == [
        "l-new",
        "l-qualified",
    ]
    put_many(
        crm_world,
        "deals",
        {
            "d-won": {"title": "W", "stage": "closed_won", "assigned_to": "u-emp"},
            "d-nego": {"title": "N", "stage": "negotiation", "assigned_to": "u-emp"},
            "d-theirs": {"title": "T", "stage": "proposal", "assigned_to": "u-emp2"},
        },
    )
    assert ids(ok(EMPLOYEE, "list_deals", {"open_only": True, "assigned_to_me": True})) == ["d-nego"]
    assert ids(ok(EMPLOYEE, "list_deals", {"stage": "closed_won"})) == ["d-won"]
    assert call_tool(EMPLOYEE, "list_deals", {"stage": "won"})["error"] == "invalid arguments"


def test_period_and_date_filters_use_created_at(crm_world: CrmWorld) -> None:
    this_month = named_range("this_month")
    last_month = named_range("last_month")
    put_many(
        crm_world,
        "issues",
        {
            "i-now": {"title": "now", "created_at": this_month.start + dt.timedelta(seconds=1)},
            "i-last": {"title": "last", "created_at": last_month.start + dt.timedelta(days=2)},
            "i-old": {"title": "old", "created_at": last_month.start - dt.timedelta(days=40)},
        },
    )
    assert ids(ok(VENDOR, "list_issues", {"period": "this_month"})) == ["i-now"]
    assert ids(ok(VENDOR, "list_issues", {"period": "last_month"})) == ["i-last"]
    day = (last_month.start + dt.timedelta(days=2)).date().isoformat()
    assert ids(ok(VENDOR, "list_issues", {"date_from": day, "date_to": day})) == ["i-last"]
    assert ids(ok(VENDOR, "list_issues", {"date_to": day})) == ["i-last", "i-old"]


def test_customers_and_employees_see_only_their_customers_orders_even_across_many_customers(
    crm_world: CrmWorld,
) -> None:
    customers = {f"c-{i:02}": {"name": f"C{i}", "assigned_to": "u-emp" if i < 35 else "u-emp2"} for i in range(40)}
    put_many(crm_world, "customers", customers)
    orders = {
        f"o-{i:02}": {
            "customer_id": f"c-{i:02}",
            "status": "pending" if i % 2 else "delivered",
            "total": 10.0,
            "created_at": T0 + dt.timedelta(minutes=i),
        }
        for i in range(40)
    }
    put_many(crm_world, "orders", orders)
    mine = sum(walk(EMPLOYEE, "list_orders", {"page_size": 6}), [])
    assert mine == [f"o-{i:02}" for i in reversed(range(35))]
    open_mine = sum(walk(EMPLOYEE, "list_orders", {"page_size": 4, "open_only": True}), [])
    assert open_mine == [f"o-{i:02}" for i in reversed(range(35)) if i % 2]
    customer = Caller("u-c", Role.CUSTOMER, ORG, customer_id="c-07")
    assert ids(ok(customer, "list_orders")) == ["o-07"]
    assert len(sum(walk(VENDOR, "list_orders", {"page_size": 50}), [])) == 40


def test_a_customer_without_arguments_gets_their_own_profile_without_staff_fields(crm_world: CrmWorld) -> None:
    put(crm_world, "customers", "c-1", name="Cora", email="cora@example.com", assigned_to="u-emp")
    result = ok(CUSTOMER, "get_customer")
    assert result["customer"]["name"] == "Cora"
    assert "assigned_to" not in result["customer"]
    assert "org_id" not in result["customer"]
    assert ok(VENDOR, "get_customer", {"customer": "c-1"})["customer"]["assigned_to"] == "u-emp"


def test_get_order_shows_its_payments(crm_world: CrmWorld) -> None:
    put(crm_world, "customers", "c-1", name="Cora", assigned_to="u-emp")
    put(crm_world, "orders", "o-1", number=3, customer_id="c-1", status="confirmed", total=500.0, currency="EUR")
    put(crm_world, "payments", "p-1", order_id="o-1", customer_id="c-1", amount=200.0, currency="EUR")
    put(
        crm_world,
        "payments",
        "p-2",
        order_id="o-1",
        customer_id="c-1",
        amount=100.0,
        currency="EUR",
        created_at=T0 + dt.timedelta(1),
    )
    result = ok(CUSTOMER, "get_order", {"order": "#3"})
    assert result["order"]["ref"] == "order #3"
    assert [p["id"] for p in result["payments"]] == ["p-2", "p-1"]
    assert result["paid"] == {"EUR": 300.0}
    payments = ok(CUSTOMER, "list_payments", {"order": "order #3"})
    assert [item["order_ref"] for item in payments["items"]] == ["order #3", "order #3"]


def test_a_tool_answers_a_model_and_the_json_the_model_reads_is_made_from_it(crm_world: CrmWorld) -> None:
    put(crm_world, "deals", "d-1", number=1, title="Won", stage="closed_won", closed_at=T0, assigned_to="u-vendor")
    page = run_tool(VENDOR, "list_deals", {}, RecordPage)
    assert not isinstance(page, ToolError), page
    assert [view.record.closed_at for view in page.items] == [T0]  # a datetime still, for the commands
    assert call_tool(VENDOR, "list_deals", {}) == page.for_model()
    assert page.for_model()["next_cursor"] is None  # the last page says so
    reopened = call_tool(VENDOR, "update_deal_stage", {"deal": "1", "stage": "proposal"})
    assert json.loads(json.dumps(reopened))["previous"] == {"stage": "closed_won", "closed_at": "2026-03-01T09:00:00Z"}
    with pytest.raises(TypeError, match="list_deals answered RecordPage, not the Statistics"):
        run_tool(VENDOR, "list_deals", {}, Statistics)


# ----- sequence numbers and references -----


def test_creations_get_consecutive_numbers_per_organisation(crm_world: CrmWorld) -> None:
    other_vendor = Caller("u-x", Role.VENDOR, "org-2")
    numbers = [ok(VENDOR, "create_deal", {"title": f"D{i}"})["created"]["number"] for i in range(3)]
    assert numbers == [1, 2, 3]
    assert ok(other_vendor, "create_deal", {"title": "X"})["created"]["number"] == 1
    assert crm_world.snapshot()["crm_sequences"][f"{ORG}:deals"]["last_number"] == 3


def test_a_new_counter_starts_after_the_numbers_the_crm_already_wrote(env: dict[str, str]) -> None:
    put(FIRESTORE, "customers", "c-1", name="Cora", assigned_to="u-vendor")
    put(FIRESTORE, "issues", "i-crm-41", number=41, title="Old")
    put(FIRESTORE, "issues", "i-crm-7", number=7, title="Older")
    put(FIRESTORE, "issues", "i-unnumbered", title="Never numbered")
    put(FIRESTORE, "issues", "i-other-org", org_id="org-2", number=99, title="Not ours")
    assert ok(CUSTOMER, "create_issue", {"title": "Help"})["created"]["number"] == 42
    assert ok(CUSTOMER, "create_issue", {"title": "Again"})["created"]["number"] == 43


def test_concurrent_creations_never_share_a_number(crm_world: CrmWorld) -> None:
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda i: call_tool(VENDOR, "create_lead", {"name": f"Lead {i}"}), range(3)))
    assert sorted(result["created"]["number"] for result in results) == [1, 2, 3]


@pytest.mark.parametrize("reference", ["5", "#5", "deal 5", "Deal #5", "no. 5", " deal  5 "])
def test_deal_5_resolves_to_this_organisations_deal_number_5(crm_world: CrmWorld, reference: str) -> None:
    put(crm_world, "deals", "d-ours", number=5, title="ACME renewal", stage="proposal", assigned_to="u-emp")
    put(crm_world, "deals", "d-theirs", org_id="org-2", number=5, title="Other org", stage="proposal")
    put(crm_world, "deals", "d-four", number=4, title="Four", stage="proposal")
    assert preview(EMPLOYEE, "update_deal_stage", {"deal": reference, "stage": "negotiation"}) == (
        "<b>Update deal 5 'ACME renewal'?</b>\n• Stage: proposal → negotiation"
    )
    result = ok(EMPLOYEE, "update_deal_stage", {"deal": reference, "stage": "negotiation"})
    assert result["updated"]["id"] == "d-ours"
    assert (crm_world.record("deals", "d-theirs") or {}).get("stage") == "proposal"


def test_records_without_a_number_resolve_by_id_even_a_numeric_one(crm_world: CrmWorld) -> None:
    put(crm_world, "leads", "Xy12abc", name="By id", status="new", assigned_to="u-emp")
    put(crm_world, "leads", "77", name="Django pk", status="new", assigned_to="u-emp")
    assert ok(EMPLOYEE, "update_lead_status", {"lead": "Xy12abc", "status": "contacted"})["updated"]["ref"] == (
        "lead Xy12abc"
    )
    assert ok(EMPLOYEE, "update_lead_status", {"lead": 77, "status": "lost"})["updated"]["id"] == "77"
    missing = call_tool(EMPLOYEE, "update_lead_status", {"lead": "lead 12", "status": "lost"})
    assert missing == {"ok": False, "error": "there is no lead 12"}
    missing = call_tool(EMPLOYEE, "update_lead_status", {"lead": "abc", "status": "lost"})
    assert missing == {"ok": False, "error": "there is no lead with the id abc"}


def test_arguments_naming_another_organisation_or_user_are_ignored(crm_world: CrmWorld) -> None:
    put(crm_world, "deals", "d-1", title="Ours", stage="proposal")
    put(crm_world, "deals", "d-x", org_id="org-2", title="Theirs", stage="proposal")
    spoofed = {"org_id": "org-2", "organisation": "org-2", "crm_user_id": "u-x", "role": "vendor"}
    assert ids(ok(EMPLOYEE, "list_deals", spoofed)) == ["d-1"]
    created = ok(EMPLOYEE, "create_lead", {"name": "Jane", **spoofed, "assigned_to": "u-x"})["created"]
    lead = crm_world.record("leads", created["id"])
    assert lead is not None
    assert (lead["org_id"], lead["assigned_to"]) == (ORG, "u-emp")
    assert ids(ok(CUSTOMER, "list_orders", {"customer_id": "c-2"})) == []


def test_deal_stage_changes_maintain_closed_at(crm_world: CrmWorld) -> None:
    put(crm_world, "deals", "d-1", number=1, title="T", stage="negotiation", assigned_to="u-vendor")
    ok(VENDOR, "update_deal_stage", {"deal": "1", "stage": "closed_won"})
    assert (crm_world.record("deals", "d-1") or {}).get("closed_at") is not None
    ok(VENDOR, "update_deal_stage", {"deal": "1", "stage": "proposal"})
    assert (crm_world.record("deals", "d-1") or {}).get("closed_at") is None  # cleared: gone, or null over REST


def test_payments_keep_the_orders_currency(crm_world: CrmWorld) -> None:
    put(crm_world, "customers", "c-1", name="Cora")  # a CRM keeping its own data refuses payments of no customer
    put(crm_world, "orders", "o-1", number=3, customer_id="c-1", total=5000.0, currency="EUR")
    assert preview(VENDOR, "record_payment", {"order": "order #3", "amount": 5000, "method": "card"}) == (
        "<b>Record a payment for order #3?</b>\n• Order: order #3\n• Customer: Cora\n• Amount: 5,000.00 EUR\n"
        "• Currency: EUR\n• Method: card\n• Recorded by: you"
    )
    assert call_tool(VENDOR, "record_payment", {"order": "3", "amount": 5, "currency": "usd"}) == {
        "ok": False,
        "error": "order #3 is in EUR; record the payment in EUR",
    }
    created = ok(VENDOR, "record_payment", {"order": "3", "amount": 5000})["created"]
    assert (created["amount"], created["currency"], created["customer_id"]) == (5000.0, "EUR", "c-1")


def test_vendor_assigns_only_to_staff_of_their_organisation(crm_world: CrmWorld) -> None:
    add_staff(crm_world, "u-emp", "emp@one.example")
    add_staff(crm_world, "u-x", "x@two.example", org="org-2")
    add_staff(crm_world, "u-c", "c@one.example", role="customer")
    put(crm_world, "leads", "l-1", number=1, name="Jane", status="new", assigned_to="u-vendor")
    assert preview(VENDOR, "assign_record", {"kind": "lead", "record": "1", "assignee_email": "EMP@one.example"}) == (
        "<b>Assign lead 1 'Jane'?</b>\n• Assigned to: you → U-Emp"
    )
    for email in ("x@two.example", "c@one.example", "nobody@one.example"):
        refused = call_tool(VENDOR, "assign_record", {"kind": "lead", "record": "1", "assignee_email": email})
        assert refused["error"] == "not permitted"
        assert refused["detail"] == f"{email} is not a staff member of your organisation"


def test_previews_escape_html(crm_world: CrmWorld) -> None:
    put(crm_world, "deals", "d-1", number=1, title="<b>Big</b> & co", stage="proposal")
    assert preview(VENDOR, "delete_record", {"kind": "deal", "record": "1"}) == (
        "<b>Permanently delete deal 1 '&lt;b&gt;Big&lt;/b&gt; &amp; co'?</b>"
    )


def test_a_customers_ticket_goes_to_the_staff_member_who_looks_after_them(crm_world: CrmWorld) -> None:
    put(crm_world, "customers", "c-1", name="Cora", assigned_to="u-emp")
    created = ok(CUSTOMER, "create_issue", {"title": "Login problems", "description": "It fails"})["created"]
    issue = crm_world.record("issues", created["id"])
    assert issue is not None
    assert {k: issue[k] for k in ("customer_id", "assigned_to", "reported_by", "status", "priority")} == {
        "customer_id": "c-1",
        "assigned_to": "u-emp",
        "reported_by": "u-cust",
        "status": "open",
        "priority": "medium",
    }
    assert "assigned_to" not in created
    assert tools.get("create_issue").needs_confirmation(Role.CUSTOMER) is False  # type: ignore[union-attr]
    assert tools.get("create_issue").needs_confirmation(Role.EMPLOYEE) is True  # type: ignore[union-attr]


# ----- statistics -----


def test_statistics_count_sum_and_compare_with_the_previous_period(crm_world: CrmWorld) -> None:
    now = named_range("this_month")
    before = named_range("last_month")
    inside, earlier = now.start + dt.timedelta(seconds=30), before.start + dt.timedelta(days=3)
    put_many(
        crm_world,
        "leads",
        {
            "l1": {"name": "a", "status": "converted", "created_at": inside},
            "l2": {"name": "b", "status": "new", "created_at": inside},
            "l3": {"name": "c", "status": "lost", "created_at": inside},
            "l4": {"name": "d", "status": "converted", "created_at": inside},
            "l5": {"name": "e", "status": "converted", "created_at": earlier},
            "l6": {"name": "f", "status": "new", "created_at": earlier},
            "lx": {"name": "x", "status": "converted", "created_at": inside, "org_id": "org-2"},
        },
    )
    put_many(
        crm_world,
        "deals",
        {
            "d1": {"title": "a", "stage": "closed_won", "value": 1000, "currency": "EUR", "closed_at": inside},
            "d2": {"title": "b", "stage": "closed_won", "value": 500.5, "currency": "USD", "closed_at": inside},
            "d3": {"title": "c", "stage": "closed_won", "value": 800, "currency": "EUR", "closed_at": earlier},
            "d4": {"title": "d", "stage": "proposal", "value": 9999, "currency": "EUR"},
            "d5": {"title": "e", "stage": "closed_lost", "value": 7, "currency": "EUR", "closed_at": inside},
            "dx": {
                "title": "x",
                "stage": "closed_won",
                "value": 1e6,
                "currency": "EUR",
                "closed_at": inside,
                "org_id": "o2",
            },
        },
    )
    put_many(
        crm_world,
        "payments",
        {
            "p1": {"amount": 300, "currency": "EUR", "created_at": inside},
            "p2": {"amount": 200, "currency": "EUR", "created_at": inside},
            "p3": {"amount": 1000, "currency": "EUR", "created_at": earlier},
        },
    )
    stats = ok(EMPLOYEE, "get_statistics")
    assert stats["deals_by_stage"] == {
        "prospecting": 0,
        "qualification": 0,
        "proposal": 1,
        "negotiation": 0,
        "closed_won": 3,
        "closed_lost": 1,
    }
    assert stats["leads_by_status"]["converted"] == 3
    assert stats["period"]["name"] == "this_month"
    current, previous = stats["current"], stats["previous"]
    assert (current["new_leads"], current["converted_leads"], current["lead_conversion_rate_percent"]) == (4, 2, 50.0)
    assert (previous["new_leads"], previous["converted_leads"], previous["lead_conversion_rate_percent"]) == (
        2,
        1,
        50.0,
    )
    assert current["revenue"] == {"EUR": 1000.0, "USD": 500.5}
    assert previous["revenue"] == {"EUR": 800.0}
    assert (current["payments_count"], current["payments_total"]) == (2, {"EUR": 500.0})
    assert stats["change_percent"]["new_leads"] == 100.0
    assert stats["change_percent"]["revenue"] == {"EUR": 25.0, "USD": None}
    assert stats["change_percent"]["payments_total"] == {"EUR": -50.0}
    last_month = ok(VENDOR, "get_statistics", {"period": "last_month"})
    assert last_month["current"]["revenue"] == {"EUR": 800.0}
    # The month before last had nothing: the model reads null for "no base to compare with", not a missing key.
    assert last_month["previous"]["lead_conversion_rate_percent"] is None
    changes = last_month["change_percent"]
    assert (changes["new_leads"], changes["deals_won"], changes["payments_count"]) == (None, None, None)
    assert "partial" not in last_month["current"]


def test_named_periods_follow_the_calendar_in_the_bot_time_zone() -> None:
    moment = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.UTC)  # still February in New York
    zone = ZoneInfo("America/New_York")
    month = named_range("this_month", moment, zone)
    assert month.start == dt.datetime(2026, 2, 1, 5, tzinfo=dt.UTC)
    assert month.previous_start == dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC)
    week = named_range("last_7_days", moment, dt.UTC)
    assert (week.start, week.end) == (dt.datetime(2026, 2, 23, tzinfo=dt.UTC), dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    year = named_range("last_year", moment, dt.UTC)
    assert (year.start.year, year.end.year, year.previous_start.year) == (2025, 2026, 2024)


# ----- schemas -----


def test_every_tool_schema_is_flat_and_described_for_the_model() -> None:
    for tool in tools.all():
        schema = tool.json_schema()
        text = json.dumps(schema)
        for construct in ("$ref", "$defs", "anyOf"):
            assert construct not in text, f"{tool.name} uses {construct}"
        assert schema["type"] == "object"
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
            assert "type" in prop, f"{tool.name}.{name}"
        assert tool.description
        assert tool.changes_data == (tool.plan is not None) == (tool.run is None)


# ----- demo data -----


def test_demo_data_loads_hashes_passwords_and_numbers_records(env: dict[str, str]) -> None:
    logins = demo.load_demo_data(demo.DEMO_DATA_PATH, iterations=1000)
    roles = [role for _, _, role in logins]
    assert (roles.count("vendor"), roles.count("employee"), roles.count("customer")) == (2, 2, 5)
    db = get_db()
    for email, password, role in logins:
        user = (
            next(iter(db.collection("crm_users").where(filter=FieldFilter("email", "==", email)).stream())).to_dict()
            or {}
        )
        assert user["role"] == role
        assert user["password_hash"].startswith("pbkdf2_sha256$1000$")
        assert verify_password(password, user["password_hash"])
        assert "password" not in user
        if role == "customer":
            customer = db.collection("customers").document(user["customer_id"]).get().to_dict() or {}
            assert customer["org_id"] == user["org_id"]
    in_main_org = FieldFilter("org_id", "==", "demo-org")
    main_org = {
        name: [d.to_dict() or {} for d in db.collection(name).where(filter=in_main_org).stream()]
        for name in ("leads", "deals", "issues", "orders", "payments", "files")
    }
    assert all(len(rows) >= 10 for rows in main_org.values()), {k: len(v) for k, v in main_org.items()}
    assert sorted(row["number"] for row in main_org["deals"]) == list(range(1, len(main_org["deals"]) + 1))
    counter = db.collection("crm_sequences").document("demo-org:deals").get().to_dict() or {}
    assert counter["last_number"] == len(main_org["deals"])

    vendor = Caller("demo-vendor", Role.VENDOR, "demo-org")
    assert ok(vendor, "list_deals", {"page_size": 5})["count"] == 5
    assert ok(vendor, "create_deal", {"title": "New"})["created"]["number"] == len(main_org["deals"]) + 1

    demo.load_demo_data(demo.DEMO_DATA_PATH, iterations=1000)
    assert len(list(db.collection("leads").where(filter=FieldFilter("org_id", "==", "demo-org")).stream())) == len(
        main_org["leads"]
    )


def test_demo_data_errors_say_where(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "crm.json"
    path.write_text(json.dumps({"organisations": [{"id": "o", "deals": [{"title": "x", "stage": "won"}]}]}))
    with pytest.raises(demo.DemoDataError, match=r"organisations\[0\]\.deals\[0\]: stage 'won' is not one of"):
        demo.load_demo_data(path)
    path.write_text(json.dumps({"organisations": [{"id": "o", "payments": [{"order_id": "nope", "amount": 1}]}]}))
    with pytest.raises(demo.DemoDataError, match="order_id 'nope' is not an order of this organisation"):
        demo.load_demo_data(path)
    path.write_text("{")
    with pytest.raises(demo.DemoDataError, match="cannot read demo data"):
        demo.load_demo_data(path)


def test_clock_is_what_created_at_uses(env: dict[str, str]) -> None:
    clock.advance(dt.timedelta(days=400))
    created = ok(VENDOR, "create_lead", {"name": "Future"})["created"]
    assert created["created_at"].startswith(str(clock.now().year))


# ----- arguments at the edges of what a date or a cursor can hold -----


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("list_deals", {"date_to": "9999-12-31"}),
        ("list_deals", {"date_from": "0001-01-01"}),
        ("list_deals", {"date_from": "0001-01-01", "date_to": "9999-12-31"}),
        ("list_orders", {"date_from": "9999-12-31"}),
        ("get_statistics", {"date_to": "9999-12-31"}),
        ("get_statistics", {"date_from": "0001-01-01"}),
        ("list_deals", {"cursor": "zzzzzzzzzzzz.deal-5"}),
        ("list_leads", {"cursor": "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.lead-1"}),
    ],
)
def test_dates_and_cursors_out_of_range_are_errors_the_model_can_read(
    env: dict[str, str], tool: str, args: dict[str, Any]
) -> None:
    result = call_tool(VENDOR, tool, args)
    assert result["ok"] is False, result
    assert result["error"] in ("invalid arguments", "that cursor is not valid: ask again without a cursor"), result
    assert "retryable" not in result, "a bad argument is the model's to fix, not a fault of ours"
