"""The webhook's first slice: authentication, parsing, de-duplication, private chats, fallbacks."""

from __future__ import annotations

import pytest

from shared.store.db import get_db
from tests.chat import ChatUser, message_update, post_update
from tests.fakes import gemini_api
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import FunctionServer
from tests.test_notify import link_user

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "test-webhook-secret_"])
def test_missing_or_wrong_secret_is_401_and_touches_nothing(
    webhook: FunctionServer, telegram: FakeTelegram, secret: str | None
) -> None:
    update = message_update(42, "/start")
    response = post_update(webhook, update, secret=secret)
    assert response.status_code == 401
    assert telegram.calls == []
    assert list(get_db().collection("tg_processed_updates").stream()) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a Telegram Update"),
        (b'{"message": {}}', "update_id"),
        (b'{"update_id": "abc"}', "update_id"),
        (b'{"update_id": 1, "message": {"message_id": 1}}', "message.chat"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_bad_body_is_400_with_a_reason(
    webhook: FunctionServer, telegram: FakeTelegram, body: bytes, reason: str
) -> None:
    response = webhook.post(
        "/",
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret_1", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert telegram.calls == []


def test_start_is_answered_and_recorded(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    update = message_update(42, "/start")
    assert post_update(webhook, update).status_code == 200
    assert "Welcome" in telegram.last_text(42)
    recorded = get_db().collection("tg_processed_updates").document(str(update["update_id"])).get()
    assert recorded.exists
    data = recorded.to_dict()
    assert data is not None
    assert (data["expires_at"] - data["received_at"]).total_seconds() == 24 * 3600


def test_repeated_update_gets_200_and_no_second_reply(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    update = message_update(42, "/help")
    first, second = post_update(webhook, update), post_update(webhook, update)
    assert first.status_code == second.status_code == 200
    assert second.json() == {"ok": True, "duplicate": True}
    assert len(telegram.sent_texts(42)) == 1


def test_help_for_a_guest_lists_login_commands(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, 7).send("/help")
    reply = telegram.last_text(7)
    assert "/login" in reply
    assert "/start" in reply


def test_group_gets_one_private_only_notice_and_no_crm_access(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    for text in ("/start", "/me", "/deals"):
        assert post_update(webhook, message_update(42, text, chat_id=-100, chat_type="group")).status_code == 200
    assert len(telegram.sent_texts(-100)) == 1
    assert "private chat" in telegram.last_text(-100)
    assert list(get_db().collection("tg_links").stream()) == []


def test_sticker_gets_a_polite_reply(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, 9).send(None, sticker={"file_id": "x", "file_unique_id": "y", "type": "regular"})
    assert "text" in telegram.last_text(9)


def test_edited_message_gets_200_and_a_note(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    update = message_update(9, "hello")
    edited = {"update_id": update["update_id"], "edited_message": update["message"]}
    assert post_update(webhook, edited).status_code == 200
    assert "edited" in telegram.last_text(9)


def test_unknown_update_kind_is_accepted_silently(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    response = post_update(webhook, {"update_id": 5, "poll": {"id": "1"}})
    assert response.status_code == 200
    assert telegram.calls == []


def test_unknown_command_and_free_text_from_a_guest(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    user = ChatUser(webhook, 11)
    user.send("/frobnicate")
    assert "/help" in telegram.last_text(11)
    user.send("hello there")
    assert "/start" in telegram.last_text(11)


@pytest.mark.parametrize(
    ("status", "description", "retry_after"),
    [(429, "Too Many Requests: retry after 1", 1), (502, "Bad Gateway", None)],
)
def test_a_reply_the_bot_sends_itself_survives_one_flood_limit_or_server_error(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    status: int,
    description: str,
    retry_after: int | None,
) -> None:
    """The assistant's answer goes by the Bot API (never in the webhook's answer), under the replies' send policy."""
    link_user("u-12", 12, role="vendor")
    gemini.enqueue(gemini_api.text("Here you are."))
    telegram.fail("sendMessage", status, description, retry_after=retry_after)
    ChatUser(webhook, 12).send("hello")
    attempts = telegram.calls_to("sendMessage")
    assert [attempt.params["text"] for attempt in attempts] == ["Here you are.", "Here you are."]
    if retry_after:
        assert attempts[1].at - attempts[0].at >= retry_after


def test_a_long_flood_limit_is_not_waited_out_in_the_webhook(
    webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    link_user("u-13", 13, role="vendor")
    gemini.enqueue(gemini_api.text("Here you are."))
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30, times=5)
    response = post_update(webhook, message_update(13, "hello"))
    assert response.status_code == 200
    assert 1 <= len(telegram.calls_to("sendMessage")) <= 2
