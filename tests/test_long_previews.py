"""The assistant's confirmation of a change to a record with a long name, through the webhook over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from shared import clock
from shared.bot import texts
from shared.roles import Role
from shared.store import links
from shared.store.db import get_db
from tests.chat import ChatUser
from tests.crm_data import add_crm_user
from tests.fakes.gemini_api import FakeGemini, function_calls, text
from tests.fakes.telegram_api import MAX_TEXT_UTF16, Call, FakeTelegram, utf16_len, visible_text
from tests.harness import FunctionServer

pytestmark = pytest.mark.emulator

VENDOR = 601
LONG_NAME = "Fleet & Sons " * 400  # 5,200 characters: the CRM's own fields have no limit the bot can rely on


@pytest.fixture
def long_named_lead(env: dict[str, str]) -> None:
    add_crm_user("vera", "vera@example.com", role="vendor", name="Vera")
    links.save_link(
        links.Link(
            telegram_user_id=VENDOR,
            chat_id=VENDOR,
            crm_user_id="vera",
            role=Role.VENDOR,
            org_id="org-1",
            name="Vera",
            email="vera@example.com",
            linked_at=clock.now(),
        )
    )
    now = clock.now()
    get_db().collection("leads").document("l-1").set(
        {"org_id": "org-1", "number": 1, "name": LONG_NAME, "status": "new", "created_at": now, "updated_at": now}
    )


def ask_to_delete(webhook: FunctionServer, gemini: FakeGemini) -> ChatUser:
    gemini.enqueue(function_calls([("delete_record", {"kind": "lead", "record": "1"})]), text("Please confirm."))
    user = ChatUser(webhook, VENDOR)
    user.send("Delete lead 1")
    return user


def preview_messages(telegram: FakeTelegram) -> list[Call]:
    calls = telegram.calls_to("sendMessage")
    first = next(index for index, call in enumerate(calls) if "Permanently delete" in call.params["text"])
    return calls[first:]


def fits(call: Call) -> bool:
    shown, error = visible_text(call.params["text"], call.params.get("parse_mode"))
    return error is None and utf16_len(shown) <= MAX_TEXT_UTF16


def lead_exists() -> bool:
    return bool(get_db().collection("leads").document("l-1").get().exists)


def test_the_delete_preview_of_a_long_named_record_shortens_the_name_into_one_message_with_the_buttons(
    long_named_lead: None, webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    ask_to_delete(webhook, gemini)
    preview = preview_messages(telegram)
    assert len(preview) == 1
    assert fits(preview[0])
    assert preview[0].params["text"].startswith("❓ <b>Permanently delete lead 1 'Fleet &amp; Sons")
    assert preview[0].params["text"].endswith("…'?</b>")
    confirm, cancel = preview[0].params["reply_markup"]["inline_keyboard"][0]
    assert (confirm["text"], cancel["text"]) == ("✅ Confirm", "✖️ Cancel")
    assert texts.SOMETHING_WENT_WRONG not in telegram.sent_texts(VENDOR)
    assert lead_exists(), "nothing changes before the tap"


def test_confirming_the_delete_of_a_long_named_record_reports_it_done_without_an_apology(
    long_named_lead: None, webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    user = ask_to_delete(webhook, gemini)
    confirm: dict[str, Any] = preview_messages(telegram)[-1].params["reply_markup"]["inline_keyboard"][0][0]
    sent_before = len(telegram.calls_to("sendMessage"))
    user.press(confirm["callback_data"], message_id=4242)
    assert not lead_exists()
    assert texts.SOMETHING_WENT_WRONG not in telegram.sent_texts(VENDOR)
    [edit] = telegram.calls_to("editMessageText")
    assert edit.params["message_id"] == 4242
    assert edit.params["text"].startswith("✅ Done: <b>Permanently delete lead 1 'Fleet &amp; Sons")
    assert fits(edit)
    assert len(telegram.calls_to("sendMessage")) == sent_before, "the outcome fits the preview's message"
