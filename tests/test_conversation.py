"""Conversation.say and Conversation.edit with our real Bot API client against the fake Bot API server."""

from __future__ import annotations

import logging

import pytest

from shared.bot.conversation import Conversation
from shared.bot.router import COMMANDS
from shared.telegram.client import TelegramClient
from shared.telegram.formatting import html_to_plain_text
from shared.telegram.types import InlineKeyboardButton, InlineKeyboardMarkup, User
from tests.fakes.telegram_api import MAX_TEXT_UTF16, Call, FakeTelegram, utf16_len, visible_text

CHAT = 42
EDITED = 7
BUTTONS = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="More ⬇️", callback_data="crmmore:o:x")]])
SHORT = "✅ <b>Done</b>: order #3 &amp; co"
# About 8,400 characters of text (11,700 of HTML) in 60 lines with tags and entities: three messages.
LONG = "\n".join(f"<b>Line {i}</b> · <i>{'fish &amp; chips ' * 10}</i>" for i in range(60))


def conversation(telegram: FakeTelegram, read_timeout: float = 10.0) -> Conversation:
    client = TelegramClient(telegram.token, telegram.base_url, read_timeout=read_timeout)
    return Conversation(client, COMMANDS, CHAT, User(id=CHAT, first_name="Pat"), session=None)


def shown(call: Call) -> str:
    """The text a user sees of a sendMessage or editMessageText call, checked to be valid and to fit."""
    text, error = visible_text(str(call.params["text"]), call.params.get("parse_mode"))
    assert error is None
    assert 0 < utf16_len(text) <= MAX_TEXT_UTF16
    return text


def markups(calls: list[Call]) -> list[object]:
    return [call.params.get("reply_markup") for call in calls]


# ----- say -----
def test_a_short_message_goes_as_it_is(telegram: FakeTelegram) -> None:
    conversation(telegram).say(SHORT, BUTTONS)
    [call] = telegram.calls_to("sendMessage")
    assert (call.params["text"], call.params["parse_mode"]) == (SHORT, "HTML")
    assert call.params["reply_markup"] == BUTTONS.model_dump(exclude_none=True)


def test_a_long_message_is_split_within_the_limit_with_the_buttons_on_its_last_part(telegram: FakeTelegram) -> None:
    conversation(telegram).say(LONG, BUTTONS)
    calls = telegram.calls_to("sendMessage")
    assert len(calls) == 3
    assert "\n".join(shown(call) for call in calls) == html_to_plain_text(LONG)
    assert all(call.params["parse_mode"] == "HTML" for call in calls)
    assert markups(calls) == [None, None, BUTTONS.model_dump(exclude_none=True)]
    assert calls[-1].params["text"].endswith("</i>")


def test_a_part_telegram_cannot_parse_is_resent_as_plain_text(telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", 400, "Bad Request: can't parse entities: unsupported start tag")
    conversation(telegram).say(LONG, BUTTONS)
    refused, plain, *rest = telegram.calls_to("sendMessage")
    assert plain.params.get("parse_mode") is None
    assert plain.params["text"] == html_to_plain_text(refused.params["text"])
    assert [call.params["parse_mode"] for call in rest] == ["HTML", "HTML"]
    assert markups([plain, *rest]) == [None, None, BUTTONS.model_dump(exclude_none=True)]


# ----- edit -----
def test_an_edit_replaces_the_text_and_the_buttons_in_place(telegram: FakeTelegram) -> None:
    conversation(telegram).edit(EDITED, SHORT, BUTTONS)
    [edit] = telegram.calls_to("editMessageText")
    assert (edit.params["chat_id"], edit.params["message_id"], edit.params["text"]) == (CHAT, EDITED, SHORT)
    assert edit.params["reply_markup"] == BUTTONS.model_dump(exclude_none=True)
    assert telegram.calls_to("sendMessage") == []


def test_a_long_edit_puts_its_first_part_in_the_message_and_sends_the_rest(telegram: FakeTelegram) -> None:
    conversation(telegram).edit(EDITED, LONG, BUTTONS)
    [edit] = telegram.calls_to("editMessageText")
    rest = telegram.calls_to("sendMessage")
    assert len(rest) == 2
    assert "\n".join(shown(call) for call in [edit, *rest]) == html_to_plain_text(LONG)
    assert edit.params["message_id"] == EDITED
    assert markups([edit, *rest]) == [None, None, BUTTONS.model_dump(exclude_none=True)]


def test_an_edit_telegram_cannot_parse_is_made_in_plain_text(telegram: FakeTelegram) -> None:
    telegram.fail("editMessageText", 400, "Bad Request: can't parse entities: unexpected end tag")
    conversation(telegram).edit(EDITED, SHORT, BUTTONS)
    refused, plain = telegram.calls_to("editMessageText")
    assert refused.params["parse_mode"] == "HTML"
    assert (plain.params.get("parse_mode"), plain.params["text"]) == (None, "✅ Done: order #3 & co")
    assert plain.params["reply_markup"] == BUTTONS.model_dump(exclude_none=True)
    assert telegram.calls_to("sendMessage") == []


def test_an_edit_that_changes_nothing_counts_as_done(telegram: FakeTelegram) -> None:
    telegram.fail("editMessageText", 400, "Bad Request: message is not modified: specified new message content")
    conversation(telegram).edit(EDITED, SHORT, BUTTONS)
    assert len(telegram.calls_to("editMessageText")) == 1
    assert telegram.calls_to("sendMessage") == []


def test_an_edit_survives_one_server_error(telegram: FakeTelegram) -> None:
    telegram.fail("editMessageText", 502, "Bad Gateway")
    conversation(telegram).edit(EDITED, SHORT)
    assert len(telegram.calls_to("editMessageText")) == 2
    assert telegram.calls_to("sendMessage") == []


@pytest.mark.parametrize(
    ("status", "description", "times", "delay"),
    [
        (400, "Bad Request: message can't be edited", 1, 0.0),
        (400, "Bad Request: message to edit not found", 1, 0.0),
        (502, "Bad Gateway", 2, 0.0),
        (502, "Bad Gateway", 2, 1.0),  # answered after the client gave up: a network error, twice
    ],
)
def test_an_edit_telegram_refuses_is_sent_as_new_messages_instead(
    telegram: FakeTelegram, status: int, description: str, times: int, delay: float
) -> None:
    telegram.fail("editMessageText", status, description, times=times, delay=delay)
    conversation(telegram, read_timeout=0.3).edit(EDITED, LONG, BUTTONS)
    assert len(telegram.calls_to("editMessageText")) == times
    sent = telegram.calls_to("sendMessage")
    assert "\n".join(shown(call) for call in sent) == html_to_plain_text(LONG)
    assert markups(sent) == [None, None, BUTTONS.model_dump(exclude_none=True)]


def test_when_neither_the_edit_nor_a_new_message_gets_through_the_edit_logs_and_returns(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    telegram.fail("editMessageText", 403, "Forbidden: bot was blocked by the user")
    telegram.block(CHAT)
    with caplog.at_level(logging.INFO, logger="shared.bot.conversation"):
        conversation(telegram).edit(EDITED, SHORT, BUTTONS)
    assert len(telegram.calls_to("sendMessage")) == 1
    assert "blocked by the user" in caplog.text


def test_when_the_rest_of_a_long_edit_cannot_be_sent_the_edit_logs_and_returns(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    telegram.fail("sendMessage", 500, "Internal Server Error", times=2)
    with caplog.at_level(logging.INFO, logger="shared.bot.conversation"):
        conversation(telegram).edit(EDITED, LONG, BUTTONS)
    assert len(telegram.calls_to("editMessageText")) == 1
    assert len(telegram.calls_to("sendMessage")) == 2
    assert "500 Internal Server Error" in caplog.text


def test_a_reply_survives_a_flood_limit_and_a_server_error_together(telegram: FakeTelegram) -> None:
    # The flood wait and the retry of a transient failure are separate allowances: using one leaves the other.
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    telegram.fail("sendMessage", 502, "Bad Gateway")
    conversation(telegram).say(SHORT)
    assert [call.params["text"] for call in telegram.calls_to("sendMessage")] == [SHORT] * 3
