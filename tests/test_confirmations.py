"""Confirm / Cancel on the real stack: a change is built once, previewed whole, and written exactly once on Confirm,
whatever Telegram does around the tap, and only for the organisation and role it was proposed in."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pytest

from shared import clock
from shared.bot import texts
from shared.store.db import get_db
from tests.chat import ChatUser
from tests.fakes.gemini_api import FakeGemini, function_calls, text
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import FunctionServer
from tests.test_notify import link_user

pytestmark = pytest.mark.emulator

VENDOR = 201
BOOKKEEPING = {"org_id", "number", "created_at", "updated_at"}
"""Fields every record gets from the CRM's side of the write, not from the change."""


def put(collection: str, doc_id: str, org_id: str = "org-1", **fields: Any) -> None:
    now = clock.now()
    get_db().collection(collection).document(doc_id).set(
        {"org_id": org_id, "created_at": now, "updated_at": now, **fields}
    )


@pytest.fixture
def crm(env: dict[str, str]) -> None:
    link_user("vendor", VENDOR, role="vendor")
    get_db().collection("crm_users").document("vendor").update({"name": "Vera Vendor"})
    link_user("emp", 202, role="employee")
    get_db().collection("crm_users").document("emp").update({"name": "Ed Employee", "email": "ed@example.com"})
    put("customers", "cust-1", number=1, name="Alice Customer", assigned_to="emp")
    put("deals", "deal-5", number=5, title="ACME renewal", value=100.0, currency="EUR", stage="proposal")
    put("deals", "deal-5-x", org_id="org-2", number=5, title="Other organisation's deal", stage="proposal")
    put("orders", "order-3", number=3, customer_id="cust-1", status="confirmed", total=5000.0, currency="EUR")
    put("leads", "lead-4", number=4, name="Jane Lead", status="new", assigned_to="vendor")


def ask(
    webhook: FunctionServer, gemini: FakeGemini, telegram: FakeTelegram, tool: str, args: dict[str, Any]
) -> tuple[str, str, str]:
    """The vendor asks for a change: (the prompt's text, Confirm's callback data, Cancel's callback data)."""
    gemini.enqueue(function_calls([(tool, args)]), text("Please confirm."))
    ChatUser(webhook, VENDOR).send("please do it")
    prompt = telegram.calls_to("sendMessage")[-1].params
    confirm, cancel = prompt["reply_markup"]["inline_keyboard"][0]
    return html.unescape(prompt["text"]), confirm["callback_data"], cancel["callback_data"]


def documents(collection: str) -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() or {} for doc in get_db().collection(collection).stream()}


def last_answer(telegram: FakeTelegram) -> str:
    return str(telegram.calls_to("answerCallbackQuery")[-1].params.get("text") or "")


def pending_state(callback_data: str) -> str:
    action_id = callback_data.split(":")[1]
    return str((get_db().collection("tg_pending_actions").document(action_id).get().to_dict() or {})["state"])


PAYMENT = ("record_payment", {"order": "3", "amount": 5000, "method": "card"})


def test_the_tap_is_answered_before_the_change_runs_and_query_too_old_does_not_double_a_payment(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    """Found by a review: answerCallbackQuery ran after the payment, unguarded; its 400 'query is too old' told the
    user 'Something went wrong… try again', and asking again recorded a second payment."""
    _, confirm, _ = ask(webhook, gemini, telegram, *PAYMENT)
    telegram.fail("answerCallbackQuery", 400, "Bad Request: query is too old and response timeout expired")
    user = ChatUser(webhook, VENDOR)
    user.press(confirm)
    assert len(documents("payments")) == 1
    assert texts.SOMETHING_WENT_WRONG not in telegram.sent_texts(VENDOR)
    methods = [call.method for call in telegram.calls if call.method in ("answerCallbackQuery", "editMessageText")]
    assert methods == ["answerCallbackQuery", "editMessageText"], "the tap is answered first"
    assert "Done" in telegram.calls_to("editMessageText")[-1].params["text"]

    user.press(confirm)
    assert len(documents("payments")) == 1
    assert "already done" in last_answer(telegram)


def test_an_edit_that_fails_after_the_payment_becomes_a_new_message_and_a_second_tap_says_it_was_done(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    """Found by a review: a 502 from editMessageText after a recorded payment was 'Something went wrong'."""
    _, confirm, _ = ask(webhook, gemini, telegram, *PAYMENT)
    telegram.fail("editMessageText", 502, "Bad Gateway", times=5)
    user = ChatUser(webhook, VENDOR)
    user.press(confirm)
    assert len(documents("payments")) == 1
    assert "Done" in telegram.last_text(VENDOR)
    assert texts.SOMETHING_WENT_WRONG not in telegram.sent_texts(VENDOR)

    user.press(confirm)
    assert len(documents("payments")) == 1
    assert "already done" in last_answer(telegram)
    assert pending_state(confirm) == "done"


def test_cancel_then_confirm_changes_nothing_and_says_it_was_cancelled(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    _, confirm, cancel = ask(webhook, gemini, telegram, *PAYMENT)
    user = ChatUser(webhook, VENDOR)
    user.press(cancel)
    assert "Cancelled" in telegram.calls_to("editMessageText")[-1].params["text"]
    user.press(confirm)
    assert documents("payments") == {}
    assert "cancelled" in last_answer(telegram)


def test_a_pending_delete_does_not_follow_the_user_into_another_organisation(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    """Found by a review: the preview said 'delete deal 5 ACME' (org 1); the CRM moved the user to org 2; the tap
    deleted org 2's deal 5."""
    preview, confirm, _ = ask(webhook, gemini, telegram, "delete_record", {"kind": "deal", "record": "5"})
    assert "ACME renewal" in preview
    get_db().collection("crm_users").document("vendor").update({"org_id": "org-2"})
    ChatUser(webhook, VENDOR).press(confirm)
    assert set(documents("deals")) == {"deal-5", "deal-5-x"}, "neither organisation's deal 5 was deleted"
    assert "Not done" in telegram.calls_to("editMessageText")[-1].params["text"]
    assert "organisation" in telegram.calls_to("editMessageText")[-1].params["text"]
    assert pending_state(confirm) == "failed"


def test_a_record_changed_since_the_preview_is_not_overwritten_with_what_the_preview_did_not_show(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    preview, confirm, _ = ask(webhook, gemini, telegram, "update_deal_stage", {"deal": "5", "stage": "negotiation"})
    assert "proposal → negotiation" in preview
    get_db().collection("deals").document("deal-5").update({"stage": "closed_won", "closed_at": clock.now()})
    ChatUser(webhook, VENDOR).press(confirm)
    assert documents("deals")["deal-5"]["stage"] == "closed_won"
    assert "changed since" in telegram.calls_to("editMessageText")[-1].params["text"]


# ----- the preview shows every field the change writes, and Confirm writes exactly that -----


def shown_as(collection: str, name: str, value: Any) -> str:
    """How the preview names a written value: people and records by name, amounts as money, the rest as written."""
    if name in ("assigned_to", "reported_by", "recorded_by"):
        return "you" if value == "vendor" else str(documents("crm_users")[value]["name"])
    if name == "customer_id":
        return str(documents("customers")[value]["name"])
    if name == "order_id":
        return f"order #{documents('orders')[value]['number']}"
    if name in ("value", "amount"):
        return f"{value:,.2f}"
    if isinstance(value, dt.datetime):
        return "now"
    return str(value)


LONG = "A description in the user's own words. " * 5


@pytest.mark.parametrize(
    ("tool", "args", "collection"),
    [
        (
            "create_lead",
            {
                "name": "Jane Doe",
                "source": "LinkedIn",
                "email": "Jane@Example.com",
                "phone": "+44 20 7946 0000",
                "company": "Doe & Sons <Ltd>",
                "assigned_to_email": "ed@example.com",
            },
            "leads",
        ),
        ("create_customer", {"name": "Bob Buyer", "phone": "+1 555 0100", "email": "bob@example.com"}, "customers"),
        (
            "create_issue",
            {"title": "Login problems", "description": LONG, "priority": "high", "customer": "1"},
            "issues",
        ),
        (
            "create_deal",
            {"title": "Fleet deal", "value": 12000, "currency": "gbp", "stage": "closed_won", "customer": "1"},
            "deals",
        ),
        ("record_payment", {"order": "3", "amount": 250.5, "method": "bank transfer"}, "payments"),
        ("update_deal_stage", {"deal": "5", "stage": "closed_lost"}, "deals"),
        ("update_lead_status", {"lead": "4", "status": "qualified"}, "leads"),
        ("assign_record", {"kind": "lead", "record": "4", "assignee_email": "ed@example.com"}, "leads"),
    ],
)
def test_every_field_a_confirmed_change_writes_was_in_its_preview(
    crm: None,
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    tool: str,
    args: dict[str, Any],
    collection: str,
) -> None:
    """Found by a review: create_lead's preview showed the name and source and wrote an email, phone and company
    too; create_issue hid the description, create_customer the phone."""
    before = documents(collection)
    preview, confirm, _ = ask(webhook, gemini, telegram, tool, args)
    ChatUser(webhook, VENDOR).press(confirm)
    after = documents(collection)
    written = {
        doc_id: {name: value for name, value in fields.items() if before.get(doc_id, {}).get(name) != value}
        for doc_id, fields in after.items()
        if before.get(doc_id) != fields
    }
    assert len(written) == 1, written
    (fields,) = written.values()
    for name, value in fields.items():
        if name not in BOOKKEEPING:
            assert shown_as(collection, name, value)[:100] in preview, f"{name}={value!r} is written, not shown"
    assert "Done" in telegram.calls_to("editMessageText")[-1].params["text"]
