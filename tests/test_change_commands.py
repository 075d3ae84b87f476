"""A command for every change the assistant can make: the same plan, preview, Confirm tap and permissions as the
tools, on the real stack (no model at all: these are what works when the assistant is off, down or over budget)."""

from __future__ import annotations

import html
from typing import Any

import pytest

from shared import clock
from shared.bot.change_commands import CHANGE_COMMANDS
from shared.crm.tools.registry import tools
from shared.store.db import get_db
from tests.chat import ChatUser
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import FunctionServer
from tests.test_notify import link_user

pytestmark = pytest.mark.emulator

VENDOR, EMPLOYEE, CUSTOMER = 301, 302, 303


def put(collection: str, doc_id: str, **fields: Any) -> None:
    now = clock.now()
    get_db().collection(collection).document(doc_id).set({"org_id": "org-1", "created_at": now, **fields})


@pytest.fixture
def crm(env: dict[str, str]) -> None:
    link_user("vera", VENDOR, role="vendor", email="vera@example.com")
    link_user("ed", EMPLOYEE, role="employee", email="ed@example.com")
    link_user("cora", CUSTOMER, role="customer", customer_id="cust-1")
    get_db().collection("crm_users").document("ed").update({"name": "Ed Employee"})
    put("customers", "cust-1", number=1, name="Alice Acme", assigned_to="ed")
    put("deals", "deal-5", number=5, title="ACME renewal", value=100.0, currency="EUR", stage="proposal")
    put("deals", "deal-6", number=6, title="Ed's deal", value=50.0, currency="EUR", stage="proposal", assigned_to="ed")
    put("leads", "lead-4", number=4, name="Jane Lead", status="new", assigned_to="vera")
    put("issues", "issue-7", number=7, title="Login fails", status="open", assigned_to="ed", customer_id="cust-1")
    put("orders", "order-3", number=3, customer_id="cust-1", status="confirmed", total=5000.0, currency="EUR")


def documents(collection: str) -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() or {} for doc in get_db().collection(collection).stream()}


def prompt(telegram: FakeTelegram, chat: int) -> tuple[str, list[list[dict[str, Any]]]]:
    """The last message's text (unescaped) and its buttons."""
    sent = [call for call in telegram.calls_to("sendMessage") if call.params["chat_id"] == chat][-1].params
    return html.unescape(sent["text"]), (sent.get("reply_markup") or {}).get("inline_keyboard", [])


def confirm(user: ChatUser, telegram: FakeTelegram) -> str:
    """Tap Confirm on the last preview; what the message says afterwards."""
    text, buttons = prompt(telegram, user.user_id)
    assert buttons, text
    assert buttons[0][0]["text"] == "✅ Confirm", text
    user.press(buttons[0][0]["callback_data"])
    return html.unescape(str(telegram.calls_to("editMessageText")[-1].params["text"]))


def test_every_data_changing_tool_has_a_command() -> None:
    commanded = {command.tool for command in CHANGE_COMMANDS} | {"update_issue_status"}  # /status issue …
    assert commanded == {tool.name for tool in tools.all() if tool.changes_data}


def test_newlead_previews_every_part_of_the_line_and_confirm_writes_exactly_that(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    user = ChatUser(webhook, EMPLOYEE)
    user.send("/newlead Jane Doe, LinkedIn, jane@mail.example, +44 20 7946 0000, Doe & Sons")
    text, _ = prompt(telegram, EMPLOYEE)
    for shown in ("Jane Doe", "LinkedIn", "jane@mail.example", "+44 20 7946 0000", "Doe & Sons", "you"):
        assert shown in text
    assert documents("leads").keys() == {"lead-4"}, "nothing is written before the tap"
    assert "Done" in confirm(user, telegram)
    (lead,) = [lead for doc_id, lead in documents("leads").items() if doc_id != "lead-4"]
    assert {key: lead[key] for key in ("name", "source", "email", "phone", "company", "assigned_to", "status")} == {
        "name": "Jane Doe",
        "source": "LinkedIn",
        "email": "jane@mail.example",
        "phone": "+44 20 7946 0000",
        "company": "Doe & Sons",
        "assigned_to": "ed",
        "status": "new",
    }


def test_stage_without_a_stage_asks_with_buttons_that_complete_the_command(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    user = ChatUser(webhook, VENDOR)
    user.send("/stage 5")
    text, buttons = prompt(telegram, VENDOR)
    assert "Which stage" in text
    by_label = {button["text"]: button["callback_data"] for row in buttons for button in row}
    assert set(by_label) == {"prospecting", "qualification", "proposal", "negotiation", "closed won", "closed lost"}
    user.press(by_label["negotiation"])
    text, _ = prompt(telegram, VENDOR)
    assert "proposal → negotiation" in text
    assert "Done" in confirm(user, telegram)
    assert documents("deals")["deal-5"]["stage"] == "negotiation"


@pytest.mark.parametrize(
    ("chat", "line", "collection", "doc_id", "expected"),
    [
        (VENDOR, "/status lead 4 qualified", "leads", "lead-4", {"status": "qualified"}),
        (VENDOR, "/Status Lead 4 Lost", "leads", "lead-4", {"status": "lost"}),
        (VENDOR, "/stage 5 Negotiation", "deals", "deal-5", {"stage": "negotiation"}),
        (EMPLOYEE, "/status issue 7 resolved", "issues", "issue-7", {"status": "resolved"}),
        (VENDOR, "/assign lead 4 ed@example.com", "leads", "lead-4", {"assigned_to": "ed"}),
        (EMPLOYEE, "/stage 6 closed won", "deals", "deal-6", {"stage": "closed_won"}),
        (EMPLOYEE, "/status issue 7 in progress", "issues", "issue-7", {"status": "in_progress"}),
    ],
)
def test_updates_by_command(
    crm: None,
    webhook: FunctionServer,
    telegram: FakeTelegram,
    chat: int,
    line: str,
    collection: str,
    doc_id: str,
    expected: dict[str, Any],
) -> None:
    user = ChatUser(webhook, chat)
    user.send(line)
    assert "Done" in confirm(user, telegram)
    document = documents(collection)[doc_id]
    assert {key: document[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("chat", "line", "collection", "expected"),
    [
        (VENDOR, "/payment 3 5000 bank transfer", "payments", {"amount": 5000.0, "method": "bank transfer"}),
        (VENDOR, "/customer Bob Buyer, bob@b.example, +1 555 0100, Buyer Inc", "customers", {"company": "Buyer Inc"}),
        (VENDOR, "/newdeal Fleet deal, 12000 gbp, customer 1", "deals", {"value": 12000.0, "currency": "GBP"}),
        (EMPLOYEE, "/issue Printer on fire, since this morning", "issues", {"description": "since this morning"}),
    ],
)
def test_creations_by_command(
    crm: None,
    webhook: FunctionServer,
    telegram: FakeTelegram,
    chat: int,
    line: str,
    collection: str,
    expected: dict[str, Any],
) -> None:
    before = documents(collection)
    user = ChatUser(webhook, chat)
    user.send(line)
    assert "Done" in confirm(user, telegram)
    (created,) = [document for doc_id, document in documents(collection).items() if doc_id not in before]
    assert {key: created[key] for key in expected} == expected


def test_delete_by_command(crm: None, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    user = ChatUser(webhook, VENDOR)
    user.send("/delete deal 5")
    assert "ACME renewal" in prompt(telegram, VENDOR)[0]
    assert "Done" in confirm(user, telegram)
    assert "deal-5" not in documents("deals")


def test_a_customers_issue_by_command_needs_no_tap(crm: None, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, CUSTOMER).send("/issue My file is late")
    assert "Done" in telegram.last_text(CUSTOMER)
    (issue,) = [issue for doc_id, issue in documents("issues").items() if doc_id != "issue-7"]
    assert (issue["title"], issue["customer_id"], issue["assigned_to"]) == ("My file is late", "cust-1", "ed")


def test_commands_check_what_the_tools_check(crm: None, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, EMPLOYEE).send("/stage 5 negotiation")  # deal 5 is not assigned to the employee
    assert "Not permitted" in telegram.last_text(EMPLOYEE)
    ChatUser(webhook, EMPLOYEE).send("/assign lead 4 ed@example.com")  # vendor only
    assert "isn't available for your account" in telegram.last_text(EMPLOYEE)
    ChatUser(webhook, CUSTOMER).send("/payment 3 10")
    assert "isn't available for your account" in telegram.last_text(CUSTOMER)
    ChatUser(webhook, VENDOR).send("/payment 99 10")
    assert "there is no order 99" in telegram.last_text(VENDOR)
    assert documents("deals")["deal-5"]["stage"] == "proposal"
    assert documents("payments") == {}


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("/payment", "Record a payment, e.g. /payment 3 5000 card"),
        ("/payment 3", "say the order's number and the amount"),
        ("/payment 3 lots", "'lots' is not an amount"),
        ("/status deal 5 won", "say 'lead' or 'issue'"),
        ("/newdeal Fleet, soon", "'soon' is not a value"),
        ("/newdeal Fleet, 12,000 EUR", "without a thousands separator"),
    ],
)
def test_a_line_that_is_not_the_command_says_what_to_type(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram, line: str, says: str
) -> None:
    ChatUser(webhook, VENDOR).send(line)
    assert says in html.unescape(telegram.last_text(VENDOR))
    assert documents("tg_pending_actions") == {}


def test_help_lists_the_commands_of_each_role(crm: None, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    seen = {}
    for chat in (VENDOR, EMPLOYEE, CUSTOMER):
        ChatUser(webhook, chat).send("/help")
        seen[chat] = telegram.last_text(chat)
    for command in ("/newlead", "/stage", "/status", "/payment", "/assign", "/delete", "/customer", "/stats"):
        assert command in seen[VENDOR]
    assert "/newlead" in seen[EMPLOYEE]
    assert "/assign" not in seen[EMPLOYEE]
    assert "/delete" not in seen[EMPLOYEE]
    assert "/issue" in seen[CUSTOMER]
    assert not {"/newlead", "/stage", "/payment", "/stats"} & set(seen[CUSTOMER].split())


def test_stats_by_command(crm: None, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, VENDOR).send("/stats this month")
    text = telegram.last_text(VENDOR)
    assert "Statistics: this month" in text
    assert "Deals: prospecting 0 · qualification 0 · proposal 2" in text
    ChatUser(webhook, VENDOR).send("/stats someday")
    assert "last_week" in telegram.last_text(VENDOR)


def test_a_vendors_deals_are_all_open_deals_and_an_employees_their_own(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    ChatUser(webhook, VENDOR).send("/deals")
    vendor = telegram.last_text(VENDOR)
    assert "everyone's" in vendor
    assert "ACME renewal" in vendor
    assert "Ed&#x27;s deal" in vendor or "Ed's deal" in vendor
    ChatUser(webhook, EMPLOYEE).send("/deals")
    employee = telegram.last_text(EMPLOYEE)
    assert "Your open deals" in employee
    assert "ACME renewal" not in employee


def test_me_shows_the_organisations_name(crm: None, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    get_db().collection("crm_users").document("vera").update({"org_name": "Northwind Tuning"})
    ChatUser(webhook, VENDOR).send("/me")
    assert "Organisation: Northwind Tuning" in telegram.last_text(VENDOR)


def test_staff_opening_a_ticket_are_told_whose_it_is(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    ChatUser(webhook, EMPLOYEE).send("/support The export button is broken")
    reply = telegram.last_text(EMPLOYEE)
    assert "assigned to you" in reply
    assert "Our team will get back to you" not in reply


def test_a_spent_more_button_is_taken_off_its_page(crm: None, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    for number in range(10, 20):
        put("leads", f"lead-{number}", number=number, name=f"Lead {number}", status="new", assigned_to="vera")
    user = ChatUser(webhook, VENDOR)
    user.send("/leads")
    _, buttons = prompt(telegram, VENDOR)
    more = buttons[0][0]["callback_data"]
    user.press(more, message_id=4321)
    [dropped] = telegram.calls_to("editMessageReplyMarkup")
    assert (dropped.params["message_id"], dropped.params.get("reply_markup")) == (4321, None)
    assert prompt(telegram, VENDOR)[1] == [], "the page that ended the list has no More of its own"


@pytest.mark.parametrize("line", ["/payment 3 5000 usd", "/payment 3 5000USD card"])
def test_a_payment_in_another_currency_than_the_orders_is_refused_not_recorded_in_the_orders(
    crm: None, webhook: FunctionServer, telegram: FakeTelegram, line: str
) -> None:
    """Found by a review: the currency after the amount was dropped or taken for the method, so the payment would
    have been recorded in the order's currency."""
    ChatUser(webhook, VENDOR).send(line)
    assert "order #3 is in EUR" in html.unescape(telegram.last_text(VENDOR))
    assert documents("tg_pending_actions") == {}


def test_help_and_the_menus_list_commands_in_the_order_the_router_builds_them() -> None:
    """The order was the order ruff sorts imports in: moving a module moved its commands in /help."""
    from shared.bot.commands import GUEST
    from shared.bot.help import command_list
    from shared.bot.router import COMMANDS
    from shared.roles import Role

    def listed(audience: str) -> list[str]:
        return [line.split(" ")[0] for line in command_list(COMMANDS, audience).split("\n")]

    assert listed(GUEST) == ["/start", "/help", "/login", "/link", "/cancel"]
    assert listed(Role.VENDOR) == [
        *("/start", "/help", "/me", "/logout,", "/clear"),
        *("/orders", "/files", "/deals", "/leads", "/stats"),
        *("/newlead", "/customer", "/newdeal", "/stage", "/status", "/issue", "/payment", "/assign", "/delete"),
        *("/support", "/notifications", "/cancel"),
    ]
    assert [command.command for command in COMMANDS.menu(Role.VENDOR)] == [
        name.strip("/,") for name in listed(Role.VENDOR)
    ]
