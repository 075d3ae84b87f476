"""Our real Bot API client against tests.fakes.telegram_api.FakeTelegram: it refuses what Telegram refuses."""

from __future__ import annotations

import pytest

from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramBadRequest
from shared.telegram.types import MessageEntity
from tests.fakes.telegram_api import MAX_CALLBACK_ANSWER_UTF16, MAX_TEXT_UTF16, FakeTelegram, parse_text

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
        ("<b>open", "HTML", "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""),
        ("<div>x</div>", "HTML", 'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 0'),
        ("a < b", "HTML", 'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2'),
        ("<b><i>x</b></i>", "HTML", "Bad Request: can't parse entities: Unmatched end tag at byte offset 7"),
        ('<span class="x">y</span>', "HTML", 'Bad Request: can\'t parse entities: Tag "span" must have class'),
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


def test_a_sent_message_comes_back_as_telegram_parsed_it(client: TelegramClient) -> None:
    message = client.send_message(CHAT, "<b>Total</b> &amp; a & b &lt;3 😀 <i>x</i>")
    assert message.text == "Total & a & b <3 😀 x"  # TDLib, like Telegram, takes a bare '&' as text
    assert message.entities == [
        MessageEntity(type="bold", offset=0, length=5),
        MessageEntity(type="italic", offset=20, length=1),  # offsets in UTF-16 units: the emoji counts 2
    ]
    assert client.send_message(CHAT, "<b>x</b>", parse_mode=None).text == "<b>x</b>"


def test_entities_are_named_as_the_bot_api_names_them() -> None:
    parsed = parse_text(
        '<pre><code class="language-py">x</code></pre><a href="https://x.io/">l</a>'
        "<blockquote expandable>q</blockquote><u>u</u><tg-spoiler>s</tg-spoiler>",
        "HTML",
    )
    assert parsed.error is None
    assert parsed.text == "xlqus"
    assert parsed.entities == [
        {"type": "pre", "offset": 0, "length": 1, "language": "py"},
        {"type": "text_link", "offset": 1, "length": 1, "url": "https://x.io/"},
        {"type": "expandable_blockquote", "offset": 2, "length": 1},
        {"type": "underline", "offset": 3, "length": 1},
        {"type": "spoiler", "offset": 4, "length": 1},
    ]
