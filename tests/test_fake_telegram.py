"""Our real Bot API client against tests.fakes.telegram_api.FakeTelegram: it refuses what Telegram refuses."""

from __future__ import annotations

import pytest

from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramBadRequest
from tests.fakes.telegram_api import MAX_CALLBACK_ANSWER_UTF16, MAX_TEXT_UTF16, FakeTelegram

CHAT = 42


@pytest.fixture
def client(telegram: FakeTelegram) -> TelegramClient:
    return TelegramClient(telegram.token, telegram.base_url)


def test_an_edit_of_up_to_4096_visible_utf16_units_is_accepted(client: TelegramClient) -> None:
    client.edit_message_text(CHAT, 1, "<b>" + "x" * MAX_TEXT_UTF16 + "</b>")
    client.edit_message_text(CHAT, 1, "😀" * (MAX_TEXT_UTF16 // 2), parse_mode=None)


@pytest.mark.parametrize(
    ("text", "parse_mode", "description"),
    [
        ("x" * (MAX_TEXT_UTF16 + 1), None, "Bad Request: MESSAGE_TOO_LONG"),
        ("😀" * (MAX_TEXT_UTF16 // 2) + "x", "HTML", "Bad Request: MESSAGE_TOO_LONG"),
        ("", None, "Bad Request: message text is empty"),
        ("  \n", None, "Bad Request: message text is empty"),
        ("<b> </b>", "HTML", "Bad Request: message text is empty"),
        ("<b>open", "HTML", "Bad Request: can't parse entities"),
        ("<div>x</div>", "HTML", "Bad Request: can't parse entities"),
    ],
)
def test_an_edit_is_refused_like_telegram_refuses_it(
    client: TelegramClient, text: str, parse_mode: str | None, description: str
) -> None:
    with pytest.raises(TelegramBadRequest) as refused:
        client.edit_message_text(CHAT, 1, text, parse_mode=parse_mode)
    assert refused.value.description.startswith(description)
    assert refused.value.is_parse_error == ("parse entities" in description)


def test_a_message_over_the_limit_is_refused_with_sendmessages_own_words(client: TelegramClient) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        client.send_message(CHAT, "x" * (MAX_TEXT_UTF16 + 1), parse_mode=None)


def test_a_callback_answer_over_200_characters_is_refused(client: TelegramClient, telegram: FakeTelegram) -> None:
    client.answer_callback_query("cb-1", "x" * MAX_CALLBACK_ANSWER_UTF16)
    client.answer_callback_query("cb-2")
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        client.answer_callback_query("cb-3", "x" * (MAX_CALLBACK_ANSWER_UTF16 + 1))
    assert len(telegram.calls_to("answerCallbackQuery")) == 3
