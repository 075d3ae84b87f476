"""The terminal chat of `make run`, driven line by line against the real webhook and notify over HTTP.

What the user would see is what the chat's screen printed; the sandbox Bot API is the tests' fake Telegram.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from devstack.terminal_chat import DEFAULT_USER_ID, Sandbox, Screen, TerminalChat, terminal_text
from shared import clock
from shared.notify.signature import sign
from shared.store.db import get_db
from tests.crm_data import add_crm_user
from tests.fakes.gemini_api import FakeGemini, function_calls, text
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import NOTIFY_SECRET, WEBHOOK_SECRET, FunctionServer

pytestmark = pytest.mark.emulator

OTHER_USER_ID = 10002


class Chat:
    """A terminal chat whose screen can be read: `type` a line as at the prompt, `screen` what is printed."""

    def __init__(self, telegram: FakeTelegram, webhook: FunctionServer) -> None:
        self._out = io.StringIO()
        self.sandbox = Sandbox(telegram, Screen(self._out))
        self.terminal = TerminalChat(self.sandbox, webhook.url, WEBHOOK_SECRET)
        self._read = 0

    def type(self, line: str) -> str:
        """Type a line; returns what the screen printed in response."""
        self.terminal.handle(line)
        return self.new_output()

    def new_output(self) -> str:
        printed = self._out.getvalue()
        new, self._read = printed[self._read :], len(printed)
        return new

    @property
    def screen(self) -> str:
        return self._out.getvalue()

    def log_in(self, email: str, password: str) -> str:
        self.type("/start")
        self.type(email)
        return self.type(password)


@pytest.fixture
def chat(telegram: FakeTelegram, webhook: FunctionServer) -> Iterator[Chat]:
    terminal = Chat(telegram, webhook)
    telegram.on_answer = terminal.sandbox.on_answer
    yield terminal
    telegram.on_answer = None


def test_links_show_their_url_after_their_text() -> None:
    assert (
        terminal_text('🔗 <a href="https://crm.example.com/files">View your files</a>', "HTML")
        == "🔗 View your files (https://crm.example.com/files)"
    )
    assert terminal_text('<a href="https://crm.example.com">https://crm.example.com</a>', "HTML") == (
        "https://crm.example.com"
    )
    assert terminal_text("<b>5 &lt; 6</b> &amp; <code>x</code>", "HTML") == "5 < 6 & x"
    assert terminal_text("<b>as typed</b>", None) == "<b>as typed</b>"


def test_the_deleted_password_is_marked_deleted_and_never_shown(chat: Chat) -> None:
    add_crm_user("u-pat", "pat@example.com", "correct horse", role="customer", customer_id="c-1")

    chat.type("/start")
    asked = chat.type("pat@example.com")
    answered = chat.type("correct horse")

    assert "password" in asked
    assert answered.startswith("you › •••••• (deleted)\n")
    assert "Authentication successful" in answered
    assert "correct horse" not in chat.screen


def test_a_tap_on_buttons_the_bot_edited_away_says_so_and_sends_nothing(
    chat: Chat, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    add_crm_user("u-vera", "vera@example.com", "correct horse", role="vendor", name="Vera")
    now = clock.now()
    get_db().collection("deals").document("deal-5").set(
        {
            "org_id": "org-1",
            "number": 5,
            "title": "ACME renewal",
            "value": 12000,
            "currency": "EUR",
            "stage": "proposal",
            "assigned_to": "u-vera",
            "created_at": now,
            "updated_at": now,
        }
    )
    chat.log_in("vera@example.com", "correct horse")
    gemini.enqueue(function_calls([("update_deal_stage", {"deal": "5", "stage": "negotiation"})]), text("Confirm?"))

    preview = chat.type("Move deal 5 to negotiation")
    confirmed = chat.type("/press 1")
    taps = len(telegram.calls_to("answerCallbackQuery"))
    again = chat.type("/press 1")

    assert "[1] ✅ Confirm   (type /press 1)" in preview
    assert "[2] ✖️ Cancel   (type /press 2)" in preview
    assert "bot ✎" in confirmed
    assert "[1]" not in confirmed
    edit = telegram.calls_to("editMessageText")[-1].params
    assert edit["message_id"] == chat.sandbox.keyboards[DEFAULT_USER_ID].message_id
    assert (get_db().collection("deals").document("deal-5").get().to_dict() or {})["stage"] == "negotiation"
    assert again == "(the last buttons are gone: the bot edited that message without them)\n"
    assert len(telegram.calls_to("answerCallbackQuery")) == taps


def test_buttons_the_bot_replaced_are_forgotten(chat: Chat, telegram: FakeTelegram) -> None:
    add_crm_user("u-pat", "pat@example.com", "correct horse", role="customer", customer_id="c-1")
    chat.log_in("pat@example.com", "correct horse")

    settings = chat.type("/notifications")
    all_off = chat.type("/press 5")
    stale = chat.type("/press 5")
    all_on = chat.type("/press 1")

    assert "[5] 🔕 Turn all off   (type /press 5)" in settings
    assert "bot (toast) › " in all_off
    assert "[1] 🔔 Turn all on   (type /press 1)" in all_off
    assert "[2]" not in all_off
    assert stale == "(no button 5: the last message with buttons has one, /press 1)\n"
    assert "[5] 🔕 Turn all off" in all_on


def test_press_without_buttons_or_out_of_range_says_what_to_do(chat: Chat) -> None:
    assert chat.type("/press 1") == "(no buttons to press yet)\n"
    add_crm_user("u-pat", "pat@example.com", "correct horse", role="customer", customer_id="c-1")
    chat.log_in("pat@example.com", "correct horse")
    chat.type("/notifications")

    assert chat.type("/press 9") == "(no button 9: the last message with buttons has 1 to 5)\n"
    assert chat.type("/press two") == "(no button two: the last message with buttons has 1 to 5)\n"


def test_as_switches_the_telegram_user_so_a_locked_out_demo_can_go_on(chat: Chat, telegram: FakeTelegram) -> None:
    add_crm_user("u-pat", "pat@example.com", "correct horse", role="customer", customer_id="c-1")
    add_crm_user("u-sam", "sam@example.com", "battery staple", role="customer", customer_id="c-2")
    chat.type("/start")
    chat.type("pat@example.com")
    for _ in range(3):
        locked = chat.type("wrong")
    assert "Too many failed login attempts" in locked

    assert chat.type("/as") == f"(you are Telegram user {DEFAULT_USER_ID}, @local_user)\n"
    switched = chat.type(f"/as {OTHER_USER_ID}")
    logged_in = chat.log_in("sam@example.com", "battery staple")

    assert switched.startswith(f"(you are now Telegram user {OTHER_USER_ID}, @local_user_{OTHER_USER_ID}")
    assert "Authentication successful" in logged_in
    assert "(to " not in logged_in
    assert telegram.calls_to("sendMessage")[-1].params["chat_id"] == OTHER_USER_ID
    assert chat.type("/as") == f"(you are Telegram user {OTHER_USER_ID}, @local_user_{OTHER_USER_ID})\n"
    assert chat.type("/as me").startswith("(usage: /as <telegram user id>")


def test_a_notification_for_another_chat_says_whom_it_is_for_and_shows_its_link(
    chat: Chat, notify_fn: FunctionServer
) -> None:
    add_crm_user("u-pat", "pat@example.com", "correct horse", role="customer", customer_id="c-1")
    chat.log_in("pat@example.com", "correct horse")
    chat.type(f"/as {OTHER_USER_ID}")
    body = json.dumps(
        {
            "id": "evt-terminal-1",
            "type": "message",
            "occurred_at": "2024-01-15T14:30:00Z",
            "user_id": "u-pat",
            "data": {"text": "Your car is ready"},
        }
    ).encode()
    signature = sign(body, NOTIFY_SECRET, int(clock.now().timestamp()))

    response = notify_fn.post("/", data=body, headers={"X-Signature": signature, "Content-Type": "application/json"})
    shown = chat.new_output()

    assert response.json()["results"][0]["status"] == "sent"
    assert shown.startswith(f"bot › (to {DEFAULT_USER_ID}) ")
    assert "Your car is ready" in shown
    assert "(https://crm.example.com" in shown


def test_a_more_button_the_bot_took_away_cannot_be_pressed_again(chat: Chat, telegram: FakeTelegram) -> None:
    """Found by a review: the bot took a spent More off its page, but the terminal chat still pressed it."""
    add_crm_user("u-vera", "vera@example.com", "correct horse", role="vendor", name="Vera")
    now = clock.now()
    batch = get_db().batch()
    for number in range(1, 12):  # a page of 8, then the last 3
        batch.set(
            get_db().collection("leads").document(f"lead-{number}"),
            {"org_id": "org-1", "number": number, "name": f"Lead {number}", "status": "new", "created_at": now},
        )
    batch.commit()
    chat.log_in("vera@example.com", "correct horse")
    first = chat.type("/leads")
    last = chat.type("/press 1")
    taps = len(telegram.calls_to("answerCallbackQuery"))
    again = chat.type("/press 1")

    assert "[1] More" in first
    assert "(continued)" in last
    assert "[1]" not in last
    assert "took" in again
    assert len(telegram.calls_to("answerCallbackQuery")) == taps, "nothing was sent"
