"""/notifications through the webhook: the settings message, its buttons, and their effect on delivery."""

from __future__ import annotations

import pytest

from shared.notify import DeliveryStatus, notify_events
from shared.notify.events import parse_event
from shared.store import links
from shared.store.db import Collections, get_db
from shared.store.links import NotificationPreferences
from tests.chat import ChatUser
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import FunctionServer
from tests.test_notify import event, link_user

pytestmark = pytest.mark.emulator


def buttons(telegram: FakeTelegram, method: str = "sendMessage") -> list[tuple[str, str]]:
    markup = telegram.calls_to(method)[-1].params["reply_markup"]
    return [(button["text"], button["callback_data"]) for row in markup["inline_keyboard"] for button in row]


def preferences(telegram_user_id: int) -> NotificationPreferences:
    link = links.get_link(telegram_user_id)
    assert link is not None
    return link.notifications


def test_notifications_shows_the_settings_with_buttons(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501, notifications=NotificationPreferences(muted_groups=["payments"]))
    ChatUser(webhook, 501).send("/notifications")
    text = telegram.last_text(501)
    assert "Notification settings" in text
    assert "💳 Payments: ⛔ off" in text
    assert "📄 Files: ✅ on" in text
    assert buttons(telegram) == [  # each button says what it does, 🔕 turning off and 🔔 turning on, everywhere
        ("🔕 Turn off 📄 Files", "notif:files:off"),
        ("🔕 Turn off 🛒 Orders", "notif:orders:off"),
        ("🔔 Turn on 💳 Payments", "notif:payments:on"),
        ("🔕 Turn off 💬 Messages from our team", "notif:messages:off"),
        ("🔕 Turn all off", "notif:all:off"),
    ]


def test_a_guest_is_asked_to_log_in(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    ChatUser(webhook, 77).send("/notifications")
    assert "/start" in telegram.last_text(77)
    ChatUser(webhook, 77).press("notif:all:off")
    [answer] = telegram.calls_to("answerCallbackQuery")
    assert "/start" in answer.params["text"]


def test_buttons_change_the_link_and_edit_the_message_in_place(
    env: dict[str, str], webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    user = ChatUser(webhook, 501)
    user.send("/notifications")
    settings_message = 4242

    user.press("notif:orders:off", message_id=settings_message)
    assert preferences(501) == NotificationPreferences(enabled=True, muted_groups=["orders"])
    edit = telegram.calls_to("editMessageText")[-1]
    assert (edit.params["chat_id"], edit.params["message_id"]) == (501, settings_message)
    assert "🛒 Orders: ⛔ off" in edit.params["text"]
    assert ("🔔 Turn on 🛒 Orders", "notif:orders:on") in buttons(telegram, "editMessageText")
    assert telegram.calls_to("answerCallbackQuery")[-1].params["text"] == "Saved"

    results = notify_events([parse_event(event("e1", "order.paid")), parse_event(event("e2", "file.ready"))])
    assert [r.status for r in results] == [DeliveryStatus.MUTED, DeliveryStatus.SENT]

    user.press("notif:all:off", message_id=settings_message)
    assert not preferences(501).enabled
    assert "All notifications are off" in telegram.calls_to("editMessageText")[-1].params["text"]
    assert buttons(telegram, "editMessageText") == [("🔔 Turn all on", "notif:all:on")]
    [muted] = notify_events([parse_event(event("e3", "file.ready"))])
    assert muted.status is DeliveryStatus.MUTED

    user.press("notif:all:on", message_id=settings_message)
    assert preferences(501) == NotificationPreferences(enabled=True, muted_groups=[])
    audit = [d.to_dict() for d in get_db().collection(Collections.AUDIT).stream()]
    assert sum(1 for entry in audit if entry and entry["event"] == "notifications_changed") == 3


def test_pressing_the_same_button_twice_is_harmless(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501)
    user = ChatUser(webhook, 501)
    user.press("notif:files:off")
    user.press("notif:files:off")
    assert preferences(501).muted_groups == ["files"]


def test_a_forged_button_is_refused(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501)
    ChatUser(webhook, 501).press("notif:everything:off")
    assert preferences(501) == NotificationPreferences()
    assert telegram.calls_to("editMessageText") == []
    assert "expired" in telegram.calls_to("answerCallbackQuery")[-1].params["text"]


def test_a_settings_message_telegram_will_not_edit_is_sent_anew(
    webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    telegram.fail("editMessageText", 502, "Bad Gateway", times=2)
    ChatUser(webhook, 501).press("notif:orders:off", message_id=4242)
    assert preferences(501).muted_groups == ["orders"]
    assert len(telegram.calls_to("editMessageText")) == 2
    assert "🛒 Orders: ⛔ off" in telegram.last_text(501)
    assert ("🔔 Turn on 🛒 Orders", "notif:orders:on") in buttons(telegram)
    assert telegram.calls_to("answerCallbackQuery")[-1].params["text"] == "Saved"


def test_a_saved_tap_whose_reply_cannot_reach_the_chat_is_answered_without_an_apology(
    webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    telegram.fail("editMessageText", 502, "Bad Gateway", times=2)
    telegram.fail("sendMessage", 502, "Bad Gateway", times=2)
    ChatUser(webhook, 501).press("notif:files:off", message_id=4242)
    assert preferences(501).muted_groups == ["files"]
    assert len(telegram.calls_to("sendMessage")) == 2  # the settings, tried twice; no "something went wrong"
    [answer] = telegram.calls_to("answerCallbackQuery")
    assert answer.params["text"] == "Saved"
