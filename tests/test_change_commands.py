"""A command for every change the assistant can make: the same plan, preview, Confirm tap and permissions as the
tools, on the real stack (no model at all: these are what works when the assistant is off, down or over budget).

They run over both adapters of the CRM port (tests/crm_world.py): the CRM's users and records are seeded and read
back through `crm_world`; the bot's own state (tg_pending_actions) is read from the emulator. Tests that never reach
the CRM's data run on the Firestore adapter only (FIRESTORE_ONLY)."""

from __future__ import annotations

import html
from typing import Any

import pytest

from shared import clock
from shared.bot.change_commands import CHANGE_COMMANDS
from shared.crm.tools.registry import tools
from shared.roles import Role
from shared.store.db import get_db
from shared.store.links import Link, save_link
from tests.chat import ChatUser
from tests.crm_world import CrmWorld
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import FunctionServer

pytestmark = pytest.mark.emulator

ORG = "org-1"
VENDOR, EMPLOYEE, CUSTOMER = 301, 302, 303
FIRESTORE_ONLY = pytest.mark.parametrize("crm_world", ["firestore"], indirect=True)
"""For a test whose behaviour is the bot's own (parsing a line, /help): one adapter is enough."""


def link(
    world: CrmWorld, user_id: str, telegram_user_id: int, role: str, name: str = "Test User", **fields: Any
) -> None:
    """A CRM user (`fields`: email, customer_id) and a Telegram link to it (the bot's own state)."""
    user = {"email": f"{user_id}@example.com", "name": name, "role": role, "org_id": ORG, "is_active": True}
    world.add_user(user_id, {**user, "password_hash": "", **fields})
    save_link(
        Link(
            telegram_user_id=telegram_user_id,
            chat_id=telegram_user_id,
            crm_user_id=user_id,
            role=Role(role),
            org_id=ORG,
            name="Test User",
            email=fields.get("email", user["email"]),
            customer_id=fields.get("customer_id"),
            linked_at=clock.now(),
        )
    )


def put(world: CrmWorld, kind: str, record_id: str, **fields: Any) -> None:
    now = clock.now()
    world.add_record(kind, record_id, {"org_id": ORG, "created_at": now, "updated_at": now, **fields})


@pytest.fixture
def crm(crm_world: CrmWorld) -> CrmWorld:
    """A vendor, an employee (Ed Employee) and a customer of cust-1, which Ed looks after; a deal of nobody's and
    one of Ed's, a lead, an issue and an order; the CRM they are in."""
    link(crm_world, "vera", VENDOR, "vendor", email="vera@example.com")
    link(crm_world, "ed", EMPLOYEE, "employee", name="Ed Employee", email="ed@example.com")
    link(crm_world, "cora", CUSTOMER, "customer", customer_id="cust-1")
    put(crm_world, "customers", "cust-1", number=1, name="Alice Acme", assigned_to="ed")
    put(crm_world, "deals", "deal-5", number=5, title="ACME renewal", value=100.0, currency="EUR", stage="proposal")
    put(
        crm_world,
        "deals",
        "deal-6",
        number=6,
        title="Ed's deal",
        value=50.0,
        currency="EUR",
        stage="proposal",
        assigned_to="ed",
    )
    put(crm_world, "leads", "lead-4", number=4, name="Jane Lead", status="new", assigned_to="vera")
    put(
        crm_world,
        "issues",
        "issue-7",
        number=7,
        title="Login fails",
        status="open",
        assigned_to="ed",
        customer_id="cust-1",
    )
    put(
        crm_world, "orders", "order-3", number=3, customer_id="cust-1", status="confirmed", total=5000.0, currency="EUR"
    )
    for kind, last in (("customers", 1), ("deals", 6), ("leads", 4), ("issues", 7), ("orders", 3)):
        crm_world.set_sequence(ORG, kind, last)
    return crm_world


def records(world: CrmWorld, kind: str) -> dict[str, dict[str, Any]]:
    """The CRM's records of `kind` by id, as it keeps them."""
    return world.snapshot()[kind]


def pending_actions() -> dict[str, dict[str, Any]]:
    """The bot's own previews waiting for a tap."""
    return {doc.id: doc.to_dict() or {} for doc in get_db().collection("tg_pending_actions").stream()}


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
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    user = ChatUser(webhook, EMPLOYEE)
    user.send("/newlead Jane Doe, LinkedIn, jane@mail.example, +44 20 7946 0000, Doe & Sons")
    text, _ = prompt(telegram, EMPLOYEE)
    for shown in ("Jane Doe", "LinkedIn", "jane@mail.example", "+44 20 7946 0000", "Doe & Sons", "you"):
        assert shown in text
    assert records(crm, "leads").keys() == {"lead-4"}, "nothing is written before the tap"
    assert "Done" in confirm(user, telegram)
    (lead,) = [lead for doc_id, lead in records(crm, "leads").items() if doc_id != "lead-4"]
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
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
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
    assert records(crm, "deals")["deal-5"]["stage"] == "negotiation"


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
    crm: CrmWorld,
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
    document = records(crm, collection)[doc_id]
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
    crm: CrmWorld,
    webhook: FunctionServer,
    telegram: FakeTelegram,
    chat: int,
    line: str,
    collection: str,
    expected: dict[str, Any],
) -> None:
    before = records(crm, collection)
    user = ChatUser(webhook, chat)
    user.send(line)
    assert "Done" in confirm(user, telegram)
    (created,) = [document for doc_id, document in records(crm, collection).items() if doc_id not in before]
    assert {key: created[key] for key in expected} == expected


def test_delete_by_command(crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    user = ChatUser(webhook, VENDOR)
    user.send("/delete deal 5")
    assert "ACME renewal" in prompt(telegram, VENDOR)[0]
    assert "Done" in confirm(user, telegram)
    assert "deal-5" not in records(crm, "deals")


def test_a_customers_issue_by_command_needs_no_tap(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    ChatUser(webhook, CUSTOMER).send("/issue My file is late")
    assert "Done" in telegram.last_text(CUSTOMER)
    (issue,) = [issue for doc_id, issue in records(crm, "issues").items() if doc_id != "issue-7"]
    assert (issue["title"], issue["customer_id"], issue["assigned_to"]) == ("My file is late", "cust-1", "ed")


def test_commands_check_what_the_tools_check(crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, EMPLOYEE).send("/stage 5 negotiation")  # deal 5 is not assigned to the employee
    assert "Not permitted" in telegram.last_text(EMPLOYEE)
    ChatUser(webhook, EMPLOYEE).send("/assign lead 4 ed@example.com")  # vendor only
    assert "isn't available for your account" in telegram.last_text(EMPLOYEE)
    ChatUser(webhook, CUSTOMER).send("/payment 3 10")
    assert "isn't available for your account" in telegram.last_text(CUSTOMER)
    ChatUser(webhook, VENDOR).send("/payment 99 10")
    assert "there is no order 99" in telegram.last_text(VENDOR)
    assert records(crm, "deals")["deal-5"]["stage"] == "proposal"
    assert records(crm, "payments") == {}


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
@FIRESTORE_ONLY
def test_a_line_that_is_not_the_command_says_what_to_type(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, line: str, says: str
) -> None:
    ChatUser(webhook, VENDOR).send(line)
    assert says in html.unescape(telegram.last_text(VENDOR))
    assert pending_actions() == {}


@FIRESTORE_ONLY
def test_help_lists_the_commands_of_each_role(crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram) -> None:
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


def test_stats_by_command(crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, VENDOR).send("/stats this month")
    text = telegram.last_text(VENDOR)
    assert "Statistics: this month" in text
    assert "Deals: prospecting 0 · qualification 0 · proposal 2" in text
    ChatUser(webhook, VENDOR).send("/stats someday")
    assert "last_week" in telegram.last_text(VENDOR)


def test_a_vendors_deals_are_all_open_deals_and_an_employees_their_own(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
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


def test_me_shows_the_organisations_name(crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    crm.change_user("vera", org_name="Northwind Tuning")
    ChatUser(webhook, VENDOR).send("/me")
    assert "Organisation: Northwind Tuning" in telegram.last_text(VENDOR)


def test_staff_opening_a_ticket_are_told_whose_it_is(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    ChatUser(webhook, EMPLOYEE).send("/support The export button is broken")
    reply = telegram.last_text(EMPLOYEE)
    assert "assigned to you" in reply
    assert "Our team will get back to you" not in reply


def test_a_spent_more_button_is_taken_off_its_page(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    for number in range(10, 20):
        put(crm, "leads", f"lead-{number}", number=number, name=f"Lead {number}", status="new", assigned_to="vera")
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
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, line: str
) -> None:
    """Found by a review: the currency after the amount was dropped or taken for the method, so the payment would
    have been recorded in the order's currency."""
    ChatUser(webhook, VENDOR).send(line)
    assert "order #3 is in EUR" in html.unescape(telegram.last_text(VENDOR))
    assert pending_actions() == {}


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
