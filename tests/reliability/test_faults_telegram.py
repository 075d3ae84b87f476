"""Faults: Telegram answering 5xx, 429 or nothing at all, under the webhook, notify and admin.

The webhook retries a reply it sends itself once after a 5xx or a time-out and waits out a short 429 (the REPLIES
policy in shared/bot/conversation.py, run by shared/telegram/send_policy.py); a reply that still fails is followed
by the apology (texts.SOMETHING_WENT_WRONG, in the webhook's answer), and the update stays answered 200, so
Telegram does not deliver it again. (A reply in the webhook's answer is Telegram's to send: nothing to retry.)
Notify retries 5xx and time-outs, waits out 429s, and records every event's outcome. Admin answers 502 with
Telegram's description.
"""

from __future__ import annotations

import time

import pytest
import requests

from shared.bot import texts
from shared.store.db import get_db
from shared.telegram.client import READ_TIMEOUT, TelegramClient
from tests.chat import ChatUser, message_update, post_update
from tests.crm_data import add_crm_user
from tests.fakes import gemini_api
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import ADMIN_TOKEN, FunctionServer
from tests.reliability.conftest import ServerLog, count_documents
from tests.test_notify import event, ledger_doc, link_user, results, signed_post

pytestmark = pytest.mark.emulator

ANSWER = "Here is what I found."
BAD_GATEWAY = (502, "Bad Gateway")
FLOOD = (429, "Too Many Requests: retry after 1")


@pytest.fixture
def short_timeouts(telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> float:
    """Notify's and admin's Telegram client give up after 0.5 s instead of READ_TIMEOUT, so time-outs are cheap."""
    read_timeout = 0.5
    quick = TelegramClient(telegram.token, telegram.base_url, read_timeout=read_timeout)
    for module in ("shared.notify.endpoint", "shared.admin.endpoint", "shared.notify.delivery"):
        monkeypatch.setattr(f"{module}.get_telegram_client", lambda: quick)
    return read_timeout


def ask(webhook: FunctionServer, gemini: FakeGemini, telegram_user_id: int) -> requests.Response:
    """A linked user's question: the assistant's answer is a reply the bot sends itself (the REPLIES policy)."""
    gemini.enqueue(gemini_api.text(ANSWER))
    return post_update(webhook, message_update(telegram_user_id, "hello"))


def test_a_share_of_replies_failing_is_retried_then_apologised_for_never_both(
    webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini, server_log: ServerLog
) -> None:
    # 16 users; Telegram fails some replies once (502, or 429 for a second), some twice, and some three times (the
    # reply, its retry and the apology). Sequential sends make each failure land on a known call.
    plan = ["clean"] * 6 + ["502 once"] * 3 + ["429 once"] * 2 + ["twice"] * 3 + ["thrice"] * 2
    answers: list[dict[str, object]] = []
    for index, failures in enumerate(plan):
        link_user(f"u-{index}", 800_000 + index, role="vendor")
        if failures == "429 once":
            telegram.fail("sendMessage", *FLOOD, retry_after=1)
        elif failures != "clean":
            telegram.fail("sendMessage", *BAD_GATEWAY, times={"502 once": 1, "twice": 2, "thrice": 3}[failures])
        response = ask(webhook, gemini, 800_000 + index)
        assert response.status_code == 200
        answers.append(response.json())

    expectations: dict[str, list[bool | str]] = {  # True: an attempt to send the assistant's answer
        "clean": [True],
        "502 once": [True, True],  # retried once, delivered
        "429 once": [True, True],  # the flood wait waited out, delivered
        "twice": [True, True, texts.SOMETHING_WENT_WRONG],  # given up: the apology, delivered
        "thrice": [True, True, texts.SOMETHING_WENT_WRONG],  # the apology failed too: nothing arrives
    }
    for index, failures in enumerate(plan):
        attempts = [text == ANSWER or text for text in telegram.sent_texts(800_000 + index)]
        assert attempts == expectations[failures], (index, failures)
        apologised = answers[index].get("text") == texts.SOMETHING_WENT_WRONG  # the apology is the webhook's answer
        assert apologised == (failures in ("twice", "thrice")), (index, answers[index])
    processed = count_documents("tg_processed_updates")
    assert processed == len(plan), "every update is claimed, failed or not: Telegram must not deliver it again"
    assert server_log.crashes() == []


def test_a_reply_that_times_out_is_given_up_after_the_read_timeout_and_retried(
    webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini, server_log: ServerLog
) -> None:
    # One real time-out of the webhook's client: Telegram holds the request longer than READ_TIMEOUT.
    link_user("u-1", 801_000, role="vendor")
    telegram.fail("sendMessage", 504, "Gateway Timeout", delay=READ_TIMEOUT + 1)
    started = time.monotonic()
    assert ask(webhook, gemini, 801_000).status_code == 200
    elapsed = time.monotonic() - started
    print(f"\nwebhook answered after {elapsed:.1f} s with Telegram hanging (READ_TIMEOUT {READ_TIMEOUT:.0f} s)")
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 3
    assert telegram.sent_texts(801_000) == [ANSWER, ANSWER]
    assert server_log.crashes() == []


def test_login_stays_whole_when_telegram_fails_around_it(
    webhook: FunctionServer, telegram: FakeTelegram, server_log: ServerLog
) -> None:
    add_crm_user("u-1", "vera@example.com", name="Vera")
    user = ChatUser(webhook, 802_000)
    user.send("/login vera@example.com")
    telegram.fail("setMyCommands", *BAD_GATEWAY)  # the menu, set before the greeting
    user.send("correct horse")

    assert get_db().collection("tg_links").document("802000").get().exists, "the password was right: linked"
    assert not get_db().collection("tg_login_flows").document("802000").get().exists
    assert "Authentication successful" in telegram.last_text(802_000)
    user.send("/me")
    assert "vera@example.com" in telegram.last_text(802_000)

    # Telegram failing to delete the password: the user is asked to delete it, and the login goes on.
    add_crm_user("u-2", "otto@example.com", name="Otto")
    other = ChatUser(webhook, 802_001)
    other.send("/login otto@example.com")
    telegram.fail("deleteMessage", 500, "Internal Server Error")
    other.send("correct horse")
    assert telegram.sent_texts(802_001)[-2] == texts.PASSWORD_NOT_DELETED
    assert "Authentication successful" in telegram.last_text(802_001)
    assert get_db().collection("tg_links").document("802001").get().exists

    # ... and Telegram failing again when that request is sent (before the greeting): the greeting is not sent,
    # and the webhook's answer carries the request with the apology.
    add_crm_user("u-3", "ines@example.com", name="Ines")
    third = ChatUser(webhook, 802_002)
    third.send("/login ines@example.com")
    telegram.fail("deleteMessage", 500, "Internal Server Error")
    telegram.fail("sendMessage", *BAD_GATEWAY, times=2)
    answer = third.send("correct horse").json()
    assert answer["text"] == f"{texts.PASSWORD_NOT_DELETED}\n\n{texts.SOMETHING_WENT_WRONG}"
    assert telegram.last_text(802_002) == answer["text"]
    assert get_db().collection("tg_links").document("802002").get().exists, "the password was right: linked"
    assert server_log.crashes() == []


def test_notify_retries_5xx_timeouts_and_429_and_sends_every_event_once(
    notify_fn: FunctionServer, telegram: FakeTelegram, short_timeouts: float, server_log: ServerLog
) -> None:
    users = {f"n{index}": 803_000 + index for index in range(12)}
    for crm_user, chat in users.items():
        link_user(crm_user, chat)
    # Two failures that are retried and two flood waits: no event can use up its 3 attempts or 3 flood waits.
    telegram.fail("sendMessage", *BAD_GATEWAY)
    telegram.fail("sendMessage", 504, "Gateway Timeout", delay=short_timeouts + 0.5)
    telegram.fail("sendMessage", *FLOOD, retry_after=1, times=2)
    batch = {"events": [event(f"ev-{crm_user}", "message", user_id=crm_user) for crm_user in users]}

    answer = results(signed_post(notify_fn, batch))

    assert [result["status"] for result in answer] == ["sent"] * 12
    delivered = [call.params["chat_id"] for call in telegram.calls_to("sendMessage")]
    assert len(delivered) == 12 + 4
    for crm_user, chat in users.items():
        entry = ledger_doc(f"ev-{crm_user}")
        assert entry is not None
        assert (entry["status"], entry["chat_id"], entry["lease_until"]) == ("sent", chat, None)
    assert sum(ledger_doc(f"ev-{crm_user}")["attempts"] for crm_user in users) == 16  # type: ignore[index]
    assert server_log.crashes() == []


def test_notify_records_an_event_telegram_keeps_failing_and_a_redrive_sends_it_later(
    notify_fn: FunctionServer, admin_fn: FunctionServer, telegram: FakeTelegram, server_log: ServerLog
) -> None:
    link_user("u1", 804_000)
    telegram.fail("sendMessage", 500, "Internal Server Error", times=3)

    [result] = results(signed_post(notify_fn, event("ev-stuck", "message")))

    assert (result["status"], result["reason"]) == ("failed", "Telegram: sendMessage: 500 Internal Server Error")
    entry = ledger_doc("ev-stuck")
    assert entry is not None
    assert (entry["status"], entry["attempts"], entry["lease_until"]) == ("failed", 3, None)
    redriven = admin_fn.post("/notifications/redrive", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={})
    assert redriven.status_code == 200
    assert [r["status"] for r in redriven.json()["results"]] == ["sent"]
    assert [r["status"] for r in results(signed_post(notify_fn, event("ev-stuck", "message")))] == ["duplicate"]
    assert len(telegram.calls_to("sendMessage")) == 4
    assert server_log.crashes() == []


@pytest.mark.parametrize(
    ("status", "description", "delay"),
    [(500, "Internal Server Error", 0.0), (429, "Too Many Requests: retry after 5", 0.0), (504, "hangs", 1.0)],
)
def test_admin_answers_502_with_what_telegram_said(
    admin_fn: FunctionServer,
    telegram: FakeTelegram,
    short_timeouts: float,
    server_log: ServerLog,
    status: int,
    description: str,
    delay: float,
) -> None:
    telegram.fail("getMe", status, description, delay=delay)
    telegram.fail("getWebhookInfo", status, description, delay=delay)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for path in ("/bot/info", "/webhook/info"):
        response = admin_fn.get(path, headers=headers)
        assert response.status_code == 502, response.text
        expected = "did not answer" if delay > short_timeouts else f"{status}: {description}"
        assert expected in response.json()["error"]
    assert admin_fn.get("/bot/info", headers=headers).status_code == 200, "and it works again once Telegram does"
    assert server_log.crashes() == []
