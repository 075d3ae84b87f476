"""The send policy (shared/telegram/send_policy.py) with our real Bot API client against the fake Bot API server.

Waits go to a recording pacing instead of being slept, so these tests take no longer than the HTTP calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramForbidden, TelegramRetryAfter, TelegramServerError
from shared.telegram.send_policy import Ending, Sender, SendPolicy, Sleeping, message_parts
from shared.telegram.types import InlineKeyboardButton, InlineKeyboardMarkup
from tests.fakes.telegram_api import FakeTelegram

CHAT = 42
HTML = "<b>Paid</b> &amp; done"
POLICY = SendPolicy(attempts=3, backoff=0.5, max_backoff=0.8, flood_waits=2, longest_flood_wait=10.0)
BUTTONS = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="More", callback_data="crmmore:o:x")]])
PARSE_ERROR = (400, "Bad Request: can't parse entities: unexpected end tag")


@dataclass
class RecordedPacing:
    """Lets `tries` tries start (None: any number), and records what the policy asked it to wait."""

    tries: int | None = None
    waits: list[tuple[str, float]] = field(default_factory=list)
    sent_to: list[int] = field(default_factory=list)

    def may_start(self, chat_id: int) -> bool:
        if self.tries is None:
            return True
        self.tries -= 1
        return self.tries >= 0

    def flood_wait(self, seconds: float) -> None:
        self.waits.append(("flood", seconds))

    def back_off(self, chat_id: int, seconds: float) -> None:
        self.waits.append(("back off", seconds))

    def sent(self, chat_id: int) -> None:
        self.sent_to.append(chat_id)


@pytest.fixture
def client(telegram: FakeTelegram) -> TelegramClient:
    return TelegramClient(telegram.token, telegram.base_url, read_timeout=0.3)


def sent_as(telegram: FakeTelegram, method: str = "sendMessage") -> list[tuple[str, str | None]]:
    return [(call.params["text"], call.params.get("parse_mode")) for call in telegram.calls_to(method)]


# ----- transient failures -----
def test_transient_failures_are_retried_with_a_backoff_that_doubles_up_to_its_maximum(
    telegram: FakeTelegram, client: TelegramClient
) -> None:
    telegram.fail("sendMessage", 502, "Bad Gateway")
    telegram.fail("sendMessage", 504, "hangs", delay=0.6)  # answered after the client gave up: a network error
    pacing = RecordedPacing()
    result = Sender(client, POLICY, pacing).send(CHAT, HTML)
    assert (result.ending, result.attempts) == (Ending.SENT, 3)
    assert result.message is not None
    assert pacing.waits == [("back off", 0.5), ("back off", 0.8)]
    assert pacing.sent_to == [CHAT]
    assert sent_as(telegram) == [(HTML, "HTML")] * 3


def test_transient_failures_past_the_attempts_give_up_with_the_last_error(
    telegram: FakeTelegram, client: TelegramClient
) -> None:
    telegram.fail("sendMessage", 500, "Internal Server Error", times=5)
    pacing = RecordedPacing()
    result = Sender(client, POLICY, pacing).send(CHAT, HTML)
    assert (result.ending, result.attempts) == (Ending.REFUSED, 3)
    assert isinstance(result.error, TelegramServerError)
    assert str(result.error) == "sendMessage: 500 Internal Server Error"
    assert len(pacing.waits) == 2
    assert pacing.sent_to == []
    with pytest.raises(TelegramServerError):
        result.message_or_raise()


# ----- flood control -----
def test_flood_limits_are_waited_out_for_retry_after_up_to_the_policy_s_count(
    telegram: FakeTelegram, client: TelegramClient
) -> None:
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, times=2)
    pacing = RecordedPacing()
    assert Sender(client, POLICY, pacing).send(CHAT, HTML).attempts == 3
    assert pacing.waits == [("flood", 3.0), ("flood", 3.0)]

    telegram.reset()
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, times=3)
    result = Sender(client, POLICY, RecordedPacing()).send(CHAT, HTML)
    assert (result.ending, result.attempts) == (Ending.REFUSED, 3)
    assert isinstance(result.error, TelegramRetryAfter)


def test_a_flood_limit_longer_than_worth_waiting_is_not_waited(telegram: FakeTelegram, client: TelegramClient) -> None:
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
    pacing = RecordedPacing()
    result = Sender(client, POLICY, pacing).send(CHAT, HTML)
    assert (result.ending, result.attempts, pacing.waits) == (Ending.REFUSED, 1, [])


def test_without_a_longest_flood_wait_any_is_waited_out(telegram: FakeTelegram, client: TelegramClient) -> None:
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 300", retry_after=300)
    pacing = RecordedPacing()
    policy = SendPolicy(attempts=1, backoff=0.1, max_backoff=0.1, flood_waits=1, longest_flood_wait=None)
    assert Sender(client, policy, pacing).send(CHAT, HTML).sent
    assert pacing.waits == [("flood", 300.0)]


def test_flood_waits_use_no_attempt_and_attempts_use_no_flood_wait(
    telegram: FakeTelegram, client: TelegramClient
) -> None:
    for _ in range(2):
        telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        telegram.fail("sendMessage", 502, "Bad Gateway")
    pacing = RecordedPacing()
    result = Sender(client, POLICY, pacing).send(CHAT, HTML)
    assert (result.ending, result.attempts) == (Ending.SENT, 5)
    assert [kind for kind, _ in pacing.waits] == ["flood", "back off", "flood", "back off"]


# ----- what is not worth retrying -----
def test_a_refusal_is_not_retried(telegram: FakeTelegram, client: TelegramClient) -> None:
    telegram.block(CHAT)
    pacing = RecordedPacing()
    result = Sender(client, POLICY, pacing).send(CHAT, HTML)
    assert (result.ending, result.attempts, pacing.waits) == (Ending.REFUSED, 1, [])
    assert isinstance(result.error, TelegramForbidden)
    assert result.error.bot_was_blocked


# ----- plain text when Telegram cannot parse our HTML -----
def test_html_telegram_cannot_parse_goes_as_plain_text_with_its_buttons(
    telegram: FakeTelegram, client: TelegramClient
) -> None:
    telegram.fail("sendMessage", *PARSE_ERROR)
    result = Sender(client, POLICY, RecordedPacing()).send(CHAT, HTML, BUTTONS)
    assert (result.ending, result.attempts) == (Ending.SENT, 2)
    assert sent_as(telegram) == [(HTML, "HTML"), ("Paid & done", None)]
    assert telegram.calls_to("sendMessage")[-1].params["reply_markup"] == BUTTONS.model_dump(exclude_none=True)


def test_the_parse_error_uses_no_attempt_of_the_plain_text(telegram: FakeTelegram, client: TelegramClient) -> None:
    telegram.fail("sendMessage", *PARSE_ERROR)
    telegram.fail("sendMessage", 502, "Bad Gateway", times=2)
    result = Sender(client, POLICY, RecordedPacing()).send(CHAT, HTML)
    assert (result.ending, result.attempts) == (Ending.SENT, 4)
    assert sent_as(telegram) == [(HTML, "HTML")] + [("Paid & done", None)] * 3


def test_plain_text_is_tried_once_only(telegram: FakeTelegram, client: TelegramClient) -> None:
    telegram.fail("sendMessage", *PARSE_ERROR, times=2)  # not what Telegram does with plain text, but if it did
    result = Sender(client, POLICY, RecordedPacing()).send(CHAT, HTML)
    assert (result.ending, result.attempts) == (Ending.REFUSED, 2)


# ----- edits -----
def test_an_edit_follows_the_same_policy_and_one_that_changes_nothing_is_done(
    telegram: FakeTelegram, client: TelegramClient
) -> None:
    telegram.fail("editMessageText", 502, "Bad Gateway")
    telegram.fail("editMessageText", *PARSE_ERROR)
    telegram.fail("editMessageText", 400, "Bad Request: message is not modified: specified new message content")
    pacing = RecordedPacing()
    result = Sender(client, POLICY, pacing).edit(CHAT, 7, HTML, BUTTONS)
    assert (result.ending, result.attempts, result.message) == (Ending.SENT, 3, None)
    assert sent_as(telegram, "editMessageText") == [(HTML, "HTML"), (HTML, "HTML"), ("Paid & done", None)]
    assert {call.params["message_id"] for call in telegram.calls_to("editMessageText")} == {7}
    assert pacing.waits == [("back off", 0.5)]


# ----- the pacing decides when, and until when -----
def test_when_the_pacing_lets_no_more_tries_start_the_message_is_out_of_time_with_the_last_error(
    telegram: FakeTelegram, client: TelegramClient
) -> None:
    telegram.fail("sendMessage", 503, "Service Unavailable")
    result = Sender(client, POLICY, RecordedPacing(tries=1)).send(CHAT, HTML)
    assert (result.ending, result.attempts) == (Ending.OUT_OF_TIME, 1)
    assert str(result.error) == "sendMessage: 503 Service Unavailable"
    untried = Sender(client, POLICY, RecordedPacing(tries=0)).send(CHAT, HTML)
    assert (untried.ending, untried.attempts, untried.error) == (Ending.OUT_OF_TIME, 0, None)
    assert len(telegram.calls_to("sendMessage")) == 1


def test_sleeping_pacing_sleeps_each_wait_where_it_is_asked_for(telegram: FakeTelegram, client: TelegramClient) -> None:
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    telegram.fail("sendMessage", 502, "Bad Gateway")
    slept: list[float] = []
    assert Sender(client, POLICY, Sleeping(slept.append)).send(CHAT, HTML).sent
    assert slept == [2.0, 0.5]


# ----- replies split to Telegram's limit -----
def test_parts_go_in_order_with_the_buttons_on_the_last_and_stop_at_the_first_not_sent(
    telegram: FakeTelegram, client: TelegramClient
) -> None:
    long = "\n".join(f"<b>Line {i}</b> · <i>{'fish &amp; chips ' * 10}</i>" for i in range(60))
    parts = message_parts(long)
    assert len(parts) == 3
    assert message_parts(HTML) == [HTML]

    result = Sender(client, POLICY, RecordedPacing()).send_parts(CHAT, parts, BUTTONS)
    assert result.sent
    assert [call.params["text"] for call in telegram.calls_to("sendMessage")] == parts
    buttons = [call.params.get("reply_markup") for call in telegram.calls_to("sendMessage")]
    assert buttons == [None, None, BUTTONS.model_dump(exclude_none=True)]

    telegram.reset()
    telegram.block(CHAT)
    stopped = Sender(client, POLICY, RecordedPacing()).send_parts(CHAT, parts, BUTTONS)
    assert (stopped.ending, len(telegram.calls_to("sendMessage"))) == (Ending.REFUSED, 1)
    assert Sender(client, POLICY).send_parts(CHAT, []).sent
