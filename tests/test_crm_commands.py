"""/orders, /files, /support, /deals and /leads through the webhook over HTTP, over both adapters of the CRM port
(tests/crm_world.py): the CRM's data is seeded and read back through `crm_world`; the bot's own state (tg_links)
is read from the emulator. Tests that never reach the CRM's data run on the Firestore adapter only (FIRESTORE_ONLY).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shared import clock
from shared.bot import crm_commands as commands  # registers the commands (until the router imports them)
from shared.bot import texts
from shared.roles import Role
from shared.store.db import get_db
from shared.store.links import Link, save_link
from shared.telegram.formatting import escape_html, html_to_plain_text
from tests.chat import ChatUser
from tests.crm_world import CrmWorld
from tests.fakes.gemini_api import FakeGemini, Reply
from tests.fakes.gemini_api import text as gemini_text
from tests.fakes.telegram_api import MAX_TEXT_UTF16, FakeTelegram, utf16_len, visible_text
from tests.harness import FunctionServer

pytestmark = pytest.mark.emulator

ORG = "org-1"
T0 = dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC)
VENDOR, EMPLOYEE, CUSTOMER, OTHER_CUSTOMER = 501, 502, 503, 504
FIRESTORE_ONLY = pytest.mark.parametrize("crm_world", ["firestore"], indirect=True)
"""For a test whose behaviour is the bot's own (commands by role, /support drafts): one adapter is enough."""


def link(
    world: CrmWorld, telegram_user_id: int, user_id: str, role: str, customer_id: str | None = None, org: str = ORG
) -> None:
    """A CRM user, and a Telegram link to it (the bot's own state)."""
    email = f"{user_id}@example.com"
    fields: dict[str, Any] = {
        "email": email,
        "name": user_id.title(),
        "role": role,
        "org_id": org,
        "is_active": True,
        "password_hash": "",
    }
    if customer_id is not None:
        fields["customer_id"] = customer_id
    world.add_user(user_id, fields)
    save_link(
        Link(
            telegram_user_id=telegram_user_id,
            chat_id=telegram_user_id,
            crm_user_id=user_id,
            role=Role(role),
            org_id=org,
            name=user_id.title(),
            email=email,
            customer_id=customer_id,
            linked_at=clock.now(),
        )
    )


def put(world: CrmWorld, kind: str, record_id: str, **fields: Any) -> None:
    fields = {"org_id": ORG, "created_at": T0, **fields}
    fields.setdefault("updated_at", fields["created_at"])
    world.add_record(kind, record_id, fields)


@pytest.fixture
def crm(crm_world: CrmWorld) -> CrmWorld:
    """A vendor, an employee looking after customer c-1, and two customers with logins; the CRM they are in."""
    link(crm_world, VENDOR, "vera", "vendor")
    link(crm_world, EMPLOYEE, "ed", "employee")
    link(crm_world, CUSTOMER, "cora", "customer", customer_id="c-1")
    link(crm_world, OTHER_CUSTOMER, "carl", "customer", customer_id="c-2")
    put(crm_world, "customers", "c-1", number=1, name="Cora <Corp>", assigned_to="ed")
    put(crm_world, "customers", "c-2", number=2, name="Carl", assigned_to="vera")
    crm_world.set_sequence(ORG, "customers", 2)
    return crm_world


def markup_of_last(telegram: FakeTelegram, chat_id: int) -> Any:
    calls = [c for c in telegram.calls_to("sendMessage") if c.params.get("chat_id") == chat_id]
    return calls[-1].params.get("reply_markup")


def more_button(telegram: FakeTelegram, chat_id: int) -> str:
    markup = markup_of_last(telegram, chat_id)
    assert markup, "no More button"
    button = markup["inline_keyboard"][0][0]
    assert button["text"].startswith("More")
    assert len(button["callback_data"].encode()) <= 64
    return str(button["callback_data"])


def test_customer_orders_show_only_theirs_with_status_emoji(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    statuses = ["pending", "confirmed", "paid", "shipped", "delivered", "cancelled"]
    for i, status in enumerate(statuses):
        put(
            crm,
            "orders",
            f"o-{i}",
            number=i + 1,
            customer_id="c-1",
            status=status,
            total=1250.5,
            currency="EUR",
            created_at=T0 + dt.timedelta(days=i),
        )
    put(crm, "orders", "o-carl", number=7, customer_id="c-2", status="paid", total=9.0, currency="EUR")
    put(crm, "orders", "o-x", org_id="org-2", number=8, customer_id="c-1", status="paid", total=9.0, currency="EUR")

    ChatUser(webhook, CUSTOMER).send("/orders")
    text = telegram.last_text(CUSTOMER)
    assert text.startswith("🧾 <b>Your orders</b>")
    lines = [line for line in text.split("\n") if line.startswith(tuple("🕐📋💳🚚📦❌"))]
    assert lines == [
        "❌ <b>Order #6</b> · Cancelled",
        "📦 <b>Order #5</b> · Delivered",
        "🚚 <b>Order #4</b> · Shipped",
        "💳 <b>Order #3</b> · Paid",
        "📋 <b>Order #2</b> · Confirmed",
        "🕐 <b>Order #1</b> · Pending",
    ]
    assert "1,250.50 EUR · 01 Feb 2026" in text
    assert ("#7" in text, "#8" in text) == (False, False)
    assert markup_of_last(telegram, CUSTOMER) is None


def test_long_lists_are_paged_with_a_more_button(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    for i in range(11):
        put(
            crm,
            "orders",
            f"o-{i:02}",
            number=i + 1,
            customer_id="c-1",
            status="paid",
            total=10.0,
            created_at=T0 + dt.timedelta(hours=i),
        )
    user = ChatUser(webhook, CUSTOMER)
    user.send("/orders")
    first = telegram.last_text(CUSTOMER)
    assert first.count("<b>Order #") == commands.PAGE_SIZE
    assert ("Order #11" in first, "Order #4" in first, "Order #3" in first) == (True, True, False)
    data = more_button(telegram, CUSTOMER)
    # A REST CRM's cursor does not fit in the button's 64 bytes: it is kept on the bot's side under a key.
    assert data.startswith("crmmorek:o:" if crm.backend == "rest" else "crmmore:o:")

    user.press(data)
    assert telegram.calls_to("answerCallbackQuery")[-1].params.get("text") is None
    second = telegram.last_text(CUSTOMER)
    assert second.startswith("🧾 <b>Your orders</b> (continued)")
    assert second.index("Order #3") < second.index("Order #2") < second.index("Order #1")
    assert second.count("<b>Order #") == 3
    assert markup_of_last(telegram, CUSTOMER) is None


def test_a_more_button_runs_as_whoever_presses_it(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    for i in range(10):
        put(
            crm,
            "orders",
            f"o-{i:02}",
            number=i + 1,
            customer_id="c-1",
            status="paid",
            total=10.0,
            created_at=T0 + dt.timedelta(hours=i),
        )
    ChatUser(webhook, CUSTOMER).send("/orders")
    data = more_button(telegram, CUSTOMER)
    ChatUser(webhook, OTHER_CUSTOMER).press(data)  # a forwarded or replayed button: scoped to the presser
    if crm.backend == "rest":  # the kept cursor is its user's only
        assert telegram.calls_to("answerCallbackQuery")[-1].params["text"] == "This button has expired."
    else:
        assert telegram.last_text(OTHER_CUSTOMER) == "That's all."
    ChatUser(webhook, 999).press(data)
    assert telegram.calls_to("answerCallbackQuery")[-1].params["text"] == "This button has expired."


def test_customer_files_show_status_eta_and_escaped_comments(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    put(crm, "files", "f-1", number=1, customer_id="c-1", name="stage1_golf_tdi.bin", status="received")
    put(
        crm,
        "files",
        "f-2",
        number=2,
        customer_id="c-1",
        name="a4<b9>.bin",
        status="processing",
        eta=dt.datetime(2026, 2, 3, 14, 30, tzinfo=dt.UTC),
        admin_comment="Working on it <soon> & more",
        created_at=T0 + dt.timedelta(hours=1),
    )
    put(
        crm,
        "files",
        "f-3",
        number=3,
        customer_id="c-1",
        name="ready.bin",
        status="ready",
        admin_comment="Ready to download",
        created_at=T0 + dt.timedelta(hours=2),
    )
    put(crm, "files", "f-carl", number=4, customer_id="c-2", name="carl.bin", status="ready")
    # A CRM that writes the ETA as text: an ISO time is still shown as a time (it was shown raw), other text as is.
    put(
        crm,
        "files",
        "f-5",
        number=5,
        customer_id="c-1",
        name="iso.bin",
        status="processing",
        eta="2026-02-04T09:15:00Z",
    )
    put(crm, "files", "f-6", number=6, customer_id="c-1", name="words.bin", status="processing", eta="next week")

    ChatUser(webhook, CUSTOMER).send("/files")
    text = telegram.last_text(CUSTOMER)
    assert text.startswith("📁 <b>Your files</b>")
    assert "✅ <b>ready.bin</b> · Ready" in text
    assert "⏳ <b>a4&lt;b9&gt;.bin</b> · Processing\n    ETA 03 Feb 14:30 · 01 Feb 2026" in text
    assert "💬 <i>Working on it &lt;soon&gt; &amp; more</i>" in text
    assert "📥 <b>stage1_golf_tdi.bin</b> · Received" in text
    assert "carl.bin" not in text
    assert "iso.bin</b> · Processing\n    ETA 04 Feb 09:15" in text
    assert "words.bin</b> · Processing\n    ETA next week" in text


def test_staff_orders_are_scoped_by_role_and_name_the_customer(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    put(crm, "orders", "o-cora", number=1, customer_id="c-1", status="paid", total=10.0)
    put(
        crm, "orders", "o-carl", number=2, customer_id="c-2", status="paid", total=20.0, created_at=T0 + dt.timedelta(1)
    )
    ChatUser(webhook, VENDOR).send("/orders")
    vendor_text = telegram.last_text(VENDOR)
    assert vendor_text.startswith("🧾 <b>Recent orders</b>")
    assert vendor_text.index("Order #2") < vendor_text.index("Order #1")
    assert "👥 Cora &lt;Corp&gt;" in vendor_text
    ChatUser(webhook, EMPLOYEE).send("/orders")
    employee_text = telegram.last_text(EMPLOYEE)
    assert employee_text.startswith("🧾 <b>Orders of your customers</b>")
    assert ("Order #1" in employee_text, "Order #2" in employee_text) == (True, False)


def test_deals_and_leads_show_my_open_ones_newest_first(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    put(
        crm,
        "deals",
        "d-1",
        number=1,
        title="Old renewal",
        stage="proposal",
        value=1000,
        currency="EUR",
        customer_id="c-1",
        assigned_to="ed",
    )
    put(
        crm,
        "deals",
        "d-2",
        number=2,
        title="New <fleet>",
        stage="negotiation",
        value=25000,
        currency="USD",
        assigned_to="ed",
        created_at=T0 + dt.timedelta(days=1),
    )
    put(crm, "deals", "d-3", number=3, title="Won already", stage="closed_won", value=5, assigned_to="ed")
    put(crm, "deals", "d-4", number=4, title="Vera's", stage="proposal", value=5, assigned_to="vera")
    put(crm, "leads", "l-1", number=1, name="Jane Doe", source="LinkedIn", status="new", assigned_to="ed")
    put(crm, "leads", "l-2", number=2, name="Lost Larry", source="Facebook", status="lost", assigned_to="ed")
    put(crm, "leads", "l-3", number=3, name="Vera's lead", status="qualified", assigned_to="vera")
    user = ChatUser(webhook, EMPLOYEE)

    user.send("/deals")
    deals = telegram.last_text(EMPLOYEE)
    assert deals.startswith("💼 <b>Your open deals</b>")
    assert deals.index("Deal 2") < deals.index("Deal 1")
    assert "💼 <b>Deal 2</b> · New &lt;fleet&gt;\n    25,000.00 USD · 🤝 Negotiation" in deals
    assert "1,000.00 EUR · 📝 Proposal · 👥 Cora &lt;Corp&gt;" in deals
    assert ("Deal 3" in deals, "Deal 4" in deals) == (False, False)

    user.send("/leads")
    leads = telegram.last_text(EMPLOYEE)
    assert leads.startswith("👤 <b>Your open leads</b>")
    assert "👤 <b>Lead 1</b> · Jane Doe\n    LinkedIn · 🆕 New" in leads
    assert ("Lead 2" in leads, "Lead 3" in leads) == (False, False)

    ChatUser(webhook, VENDOR).send("/leads")
    assert "Vera's lead" in telegram.last_text(VENDOR)


def sent_to(telegram: FakeTelegram, chat_id: int) -> list[Any]:
    return [call for call in telegram.calls_to("sendMessage") if call.params.get("chat_id") == chat_id]


def test_a_page_of_leads_at_create_leads_maximum_lengths_is_one_readable_message(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    for i in range(commands.PAGE_SIZE):
        put(
            crm,
            "leads",
            f"l-{i}",
            number=i + 1,
            name=f"{i}" + "N" * 199,
            source="S" * 100,
            company="C&" * 100,
            email="e" * 242 + "@example.com",
            status="new",
            assigned_to="ed",
            created_at=T0 + dt.timedelta(hours=i),
        )
    ChatUser(webhook, EMPLOYEE).send("/leads")
    [page] = sent_to(telegram, EMPLOYEE)
    text = page.params["text"]
    assert text.count("<b>Lead ") == commands.PAGE_SIZE
    shown = commands.LIST_FIELD_LENGTH - 1
    assert f"👤 <b>Lead 8</b> · 7{'N' * (shown - 1)}…\n    {'S' * shown}…" in text
    assert f" · {escape_html(('C&' * 100)[:shown])}… · 🆕 New" in text
    assert "e" * 10 not in text


def test_long_file_names_and_comments_are_shortened_in_the_list(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    for i in range(commands.PAGE_SIZE):
        put(
            crm,
            "files",
            f"f-{i}",
            number=i + 1,
            customer_id="c-1",
            name="tune_" + "x" * 250 + ".bin",
            status="processing",
            admin_comment=f"Comment {i}: " + "we are on it <ok> " * 60,
            created_at=T0 + dt.timedelta(hours=i),
        )
    ChatUser(webhook, CUSTOMER).send("/files")
    [page] = sent_to(telegram, CUSTOMER)
    text = page.params["text"]
    assert text.count("⏳ <b>tune_") == commands.PAGE_SIZE
    assert f"⏳ <b>tune_{'x' * (commands.LIST_FIELD_LENGTH - 6)}…</b> · Processing" in text
    comments = [line for line in text.split("\n") if line.startswith("    💬 ")]
    assert len(comments) == commands.PAGE_SIZE
    assert all(line.endswith("…</i>") for line in comments)
    comment = html_to_plain_text(comments[0].removeprefix("    💬 "))
    assert comment.startswith("Comment 7: we are on it <ok> ")
    assert len(comment) == commands.COMMENT_LENGTH


def test_a_page_too_long_even_shortened_is_split_with_more_on_its_last_message(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    for i in range(commands.PAGE_SIZE + 1):
        put(
            crm,
            "files",
            f"f-{i}",
            number=i + 1,
            customer_id="c-1",
            name=f"{i}" + "🚗" * 100,
            status="ready",
            admin_comment="🔧" * 300,
            created_at=T0 + dt.timedelta(hours=i),
        )
    user = ChatUser(webhook, CUSTOMER)
    user.send("/files")
    pages = sent_to(telegram, CUSTOMER)
    assert len(pages) == 2
    for page in pages:
        shown, error = visible_text(page.params["text"], "HTML")
        assert error is None
        assert utf16_len(shown) <= MAX_TEXT_UTF16
    text = "\n".join(page.params["text"] for page in pages)
    assert pages[0].params["text"].startswith("📁 <b>Your files</b>")
    assert [text.count(f"✅ <b>{i}🚗") for i in range(commands.PAGE_SIZE + 1)] == [0] + [1] * commands.PAGE_SIZE
    assert pages[0].params.get("reply_markup") is None
    user.press(more_button(telegram, CUSTOMER))
    assert "✅ <b>0🚗" in telegram.last_text(CUSTOMER)


def test_empty_lists_say_so(crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, EMPLOYEE).send("/deals")
    assert telegram.last_text(EMPLOYEE) == "💼 <b>Your open deals</b>\n\nYou have no open deals."
    ChatUser(webhook, CUSTOMER).send("/files")
    assert telegram.last_text(CUSTOMER) == "📁 <b>Your files</b>\n\nYou have no files yet."


@FIRESTORE_ONLY
def test_staff_commands_are_not_for_customers_or_guests(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    ChatUser(webhook, CUSTOMER).send("/deals")
    assert "isn't available for your account" in telegram.last_text(CUSTOMER)
    guest = ChatUser(webhook, 777)
    for command in ("/orders", "/files", "/support", "/leads"):
        guest.send(command)
        assert "not logged in" in telegram.last_text(777)


# ----- /support -----


@pytest.fixture
def router_takes_support_messages(gemini: FakeGemini) -> None:
    """The assistant (the fake Gemini) echoes what reaches it, so a test sees which messages got past /support."""

    def echo(request_json: dict[str, Any]) -> Reply:
        last = request_json["contents"][-1]["parts"][0]["text"]
        return gemini_text(f"assistant: {last}")

    gemini.enqueue(*[echo] * 5)


def support_draft_until() -> Any:
    return (get_db().collection("tg_links").document(str(CUSTOMER)).get().to_dict() or {})["support_draft_until"]


def issues(world: CrmWorld) -> list[dict[str, Any]]:
    """The CRM's issues, as it keeps them."""
    return list(world.snapshot()["issues"].values())


def test_support_opens_a_ticket_from_the_next_message(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, router_takes_support_messages: None
) -> None:
    put(crm, "issues", "i-old", number=4, title="Earlier", customer_id="c-1")
    crm.set_sequence(ORG, "issues", 4)
    user = ChatUser(webhook, CUSTOMER)
    user.send("/support")
    prompt = telegram.last_text(CUSTOMER)
    assert "Describe your problem in your next message" in prompt
    assert '<a href="https://crm.example.com">' in prompt
    assert markup_of_last(telegram, CUSTOMER)["inline_keyboard"][0][0]["callback_data"] == "crmsupport:cancel"
    assert support_draft_until() is not None

    user.send("I can't log in to the portal\nIt says <error 42> since this morning.")
    assert telegram.last_text(CUSTOMER) == (
        "✅ Thanks! Support ticket <b>#5</b> is open: “I can't log in to the portal”.\nOur team will get back to you."
    )
    created = [issue for issue in issues(crm) if issue.get("number") == 5]
    assert len(created) == 1
    assert created[0]["title"] == "I can't log in to the portal"
    assert created[0]["description"] == "I can't log in to the portal\nIt says <error 42> since this morning."
    assert (created[0]["customer_id"], created[0]["assigned_to"], created[0]["org_id"]) == ("c-1", "ed", ORG)
    assert (get_db().collection("tg_links").document(str(CUSTOMER)).get().to_dict() or {})[
        "support_draft_until"
    ] is None

    user.send("And another thing")
    assert telegram.last_text(CUSTOMER) == "assistant: And another thing"
    assert len(issues(crm)) == 2


def test_support_with_text_opens_the_ticket_at_once(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    ChatUser(webhook, EMPLOYEE).send("/support " + "The export button is broken " * 5)
    reply = telegram.last_text(EMPLOYEE)
    assert "Support ticket <b>#1</b> is open" in reply
    (issue,) = issues(crm)
    assert len(issue["title"]) == commands.TITLE_LENGTH
    assert issue["title"].endswith("…")
    assert (issue.get("customer_id"), issue["assigned_to"], issue["reported_by"]) == (None, "ed", "ed")


def test_a_support_message_as_long_as_telegram_allows_opens_a_ticket_with_all_of_it(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, router_takes_support_messages: None
) -> None:
    """A Telegram message holds 4096 characters; the ticket's description took 4000 and refused the rest."""
    words = ("The portal logs me out every minute. " * 111)[:4096]
    user = ChatUser(webhook, CUSTOMER)
    user.send("/support")
    user.send(words)
    assert "Support ticket" in telegram.last_text(CUSTOMER)
    (issue,) = issues(crm)
    assert issue["description"] == words.strip()


@FIRESTORE_ONLY
def test_support_can_be_cancelled_and_expires(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, router_takes_support_messages: None
) -> None:
    user = ChatUser(webhook, CUSTOMER)
    user.send("/support")
    user.press("crmsupport:cancel")
    assert telegram.last_text(CUSTOMER) == texts.SUPPORT_CANCELLED
    user.press("crmsupport:cancel")
    assert telegram.calls_to("answerCallbackQuery")[-1].params["text"] == texts.SUPPORT_EXPIRED
    user.send("hello")
    assert telegram.last_text(CUSTOMER) == "assistant: hello"

    user.send("/support")
    user.send("cancel")
    assert telegram.last_text(CUSTOMER) == texts.SUPPORT_CANCELLED

    user.send("/support")
    clock.advance(dt.timedelta(minutes=11))
    user.send("too late")
    assert telegram.last_text(CUSTOMER) == "assistant: too late"
    assert issues(crm) == []


@FIRESTORE_ONLY
def test_a_support_draft_does_not_survive_a_change_of_account(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, router_takes_support_messages: None
) -> None:
    user = ChatUser(webhook, CUSTOMER)
    user.send("/support")
    link(crm, CUSTOMER, "carl", "customer", customer_id="c-2")  # the same Telegram user, now another CRM account
    user.send("not a ticket")
    assert telegram.last_text(CUSTOMER) == "assistant: not a ticket"
    assert issues(crm) == []


@FIRESTORE_ONLY
def test_cancel_stops_a_support_draft_and_says_so(
    crm: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, router_takes_support_messages: None
) -> None:
    user = ChatUser(webhook, CUSTOMER)
    user.send("/support")
    user.send("/cancel")
    assert telegram.last_text(CUSTOMER) == texts.SUPPORT_CANCELLED
    assert support_draft_until() is None
    user.send("hello")
    assert telegram.last_text(CUSTOMER) == "assistant: hello"
    assert issues(crm) == []

    user.send("/cancel")
    assert telegram.last_text(CUSTOMER) == "There's nothing to cancel."
