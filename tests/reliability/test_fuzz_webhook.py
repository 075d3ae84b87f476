"""Fuzzing the webhook over HTTP: Telegram updates valid and mangled, raw bodies, and wrong secrets.

Whatever arrives, the answer is 200 (handled, or a duplicate), 400 (not an Update) or 401 (wrong secret, nothing
done), never a 500, and nothing raises an exception the code did not expect. Runs are derandomized so CI is
stable; FUZZ_EXAMPLES=2000 runs more examples, randomized (and still without a database of failures).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.bot import texts
from tests.chat import callback_update, message_update, next_update_id, post_update
from tests.crm_data import add_crm_user
from tests.fakes.gemini_api import FakeGemini, text
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import WEBHOOK_SECRET, FunctionServer
from tests.reliability.conftest import INT64, ServerLog, fuzz_settings, junk, mangle, weighted
from tests.test_notify import link_user

pytestmark = pytest.mark.emulator

LINKED = {1: "vendor", 2: "employee", 3: "customer"}
GUEST_WITH_ACCOUNT = 4
TELEGRAM_ID = st.integers(min_value=-(2**53), max_value=2**53)
"""Telegram's ids fit in 52 bits; anything larger is refused (test_ids_beyond_telegrams_range_are_a_400)."""
user_ids = weighted((3, st.sampled_from([*LINKED, GUEST_WITH_ACCOUNT, 5, 6])), (1, TELEGRAM_ID))
chat_types = weighted((8, st.just("private")), (2, st.sampled_from(["group", "supergroup", "channel"])), (1, st.text()))
COMMANDS = [
    "/start", "/help", "/login", "/link", "/cancel", "/me", "/logout", "/clear", "/orders", "/files", "/deals",
    "/leads", "/support", "/notifications", "/frobnicate", "/start@crm_test_bot", "/",
]  # fmt: skip
message_texts = weighted(
    (3, st.builds(lambda command, argument: f"{command} {argument}".strip(), st.sampled_from(COMMANDS), st.text())),
    (2, st.sampled_from(["fuzz@example.com", "correct horse", "FUZZ@EXAMPLE.COM", "cancel", "yes", "/start"])),
    (1, st.emails()),
    (3, st.text(max_size=300)),
    (1, st.text(min_size=1000, max_size=5000)),
)
CALLBACK_KINDS = ["notif", "act", "crmmore", "crmsupport", "zz", ""]
callback_data = st.one_of(
    st.builds(lambda kind, rest: f"{kind}:{rest}", st.sampled_from(CALLBACK_KINDS), st.text(max_size=60)),
    st.sampled_from(["notif:files:off", "notif:all:on", "crmsupport:cancel", "crmmore:o:", "act::y"]),
    st.text(max_size=64),
)


@st.composite
def users(draw: st.DrawFn, user_id: int | None = None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": draw(user_ids) if user_id is None else user_id, "is_bot": draw(st.booleans())}
    user["first_name"] = draw(st.text(max_size=30))
    if draw(st.booleans()):
        user["username"] = draw(st.text(max_size=30))
    return user


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    sender = draw(users())
    chat_type = draw(chat_types)
    chat_id = sender["id"] if chat_type == "private" and draw(st.integers(0, 4)) else draw(TELEGRAM_ID)
    message: dict[str, Any] = {"message_id": draw(TELEGRAM_ID), "date": draw(INT64), "chat": {"id": chat_id}}
    message["chat"]["type"] = chat_type
    if chat_type != "channel" or draw(st.booleans()):
        message["from"] = sender
    content = draw(st.sampled_from(["text"] * 12 + ["sticker", "photo", "document", "nothing"]))
    if content == "text":
        message["text"] = draw(message_texts)
        if message["text"].startswith("/") and draw(st.booleans()):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(message["text"].split(" ")[0])}]
    elif content == "sticker":
        message["sticker"] = {"file_id": draw(st.text(max_size=10)), "type": "regular"}
    elif content == "photo":
        message["photo"] = [{"file_id": "p", "width": 1, "height": 1}]
        message["caption"] = draw(st.text(max_size=50))
    elif content == "document":
        message["document"] = {"file_id": "d"}
    return message


@st.composite
def callback_queries(draw: st.DrawFn) -> dict[str, Any]:
    query: dict[str, Any] = {"id": draw(st.text(max_size=20)), "from": draw(users()), "chat_instance": "1"}
    if draw(st.booleans()):
        query["data"] = draw(callback_data)
    shape = draw(st.sampled_from(["message", "message", "inaccessible", "none"]))
    if shape == "message":
        query["message"] = draw(messages())
    elif shape == "inaccessible":
        chat = {"id": draw(TELEGRAM_ID), "type": draw(chat_types)}
        query["message"] = {"message_id": draw(TELEGRAM_ID), "chat": chat, "date": 0}
    return query


@st.composite
def membership_changes(draw: st.DrawFn) -> dict[str, Any]:
    user = draw(users())
    statuses = st.one_of(
        st.sampled_from(["member", "kicked", "left", "administrator", "restricted"]), st.text(max_size=9)
    )
    return {
        "chat": {"id": user["id"] if draw(st.booleans()) else draw(TELEGRAM_ID), "type": draw(chat_types)},
        "from": user,
        "date": draw(INT64),
        "old_chat_member": {"status": draw(statuses), "user": draw(users())},
        "new_chat_member": {"status": draw(statuses), "user": draw(users())},
    }


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed Update of every kind the bot handles or ignores; update ids often repeat (duplicates)."""
    freshness = draw(st.sampled_from(["new"] * 8 + ["seen", "any"]))  # mostly new ids, some duplicates, some any
    if freshness == "new":
        update_id = next_update_id()
    else:
        update_id = draw(st.integers(min_value=0, max_value=20 if freshness == "seen" else 2**53))
    kind = draw(
        st.sampled_from(["message"] * 10 + ["callback_query"] * 4 + ["edited_message", "channel_post", "other"])
    )
    if kind in ("message", "edited_message", "channel_post"):
        return {"update_id": update_id, kind: draw(messages())}
    if kind == "callback_query":
        return {"update_id": update_id, kind: draw(callback_queries())}
    if draw(st.booleans()):
        return {"update_id": update_id, "my_chat_member": draw(membership_changes())}
    return {"update_id": update_id, draw(st.sampled_from(["poll", "inline_query", "x"])): {"id": "1"}}


@st.composite
def mangled_updates(draw: st.DrawFn) -> dict[str, Any] | Any:
    update = mangle(draw, draw(updates()))
    return update if draw(st.integers(0, 9)) else draw(junk)


raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda value: json.dumps(value).encode(), junk),
    st.builds(lambda update: json.dumps(update).encode()[: len(json.dumps(update)) // 2], updates()),
    st.sampled_from([b"", b"null", b"[]", b"{}", b'{"update_id": 1}', b'{"update_id": NaN}', b"\xff\xfe{}"]),
)


@pytest.fixture
def bot_world(env: dict[str, str], gemini: FakeGemini) -> None:
    """Linked users of every role, a guest with an account to log in to, and an assistant that always answers."""
    for user_id, role in LINKED.items():
        link_user(f"fuzz-{role}", user_id, role=role)
    add_crm_user("fuzz-guest", "fuzz@example.com")
    gemini.enqueue(*[text("Fuzzed answer.")] * 3000)


Check = Callable[..., None]


@pytest.fixture
def check_answer(webhook: FunctionServer, telegram: FakeTelegram, server_log: ServerLog) -> Check:
    """Post a body and check the answer: 200 with ok, 400 with an error, or 401 having done nothing; no crash."""

    def check(body: bytes, headers: dict[str, str], valid: bool = False) -> None:
        server_log.records.clear()
        calls_before = len(telegram.calls)
        response = webhook.post("/", data=body, headers={"Content-Type": "application/json", **headers})
        assert response.status_code in (200, 400, 401), (response.status_code, response.text)
        answer = response.json()
        if headers.get("X-Telegram-Bot-Api-Secret-Token") != WEBHOOK_SECRET:
            assert response.status_code == 401
            assert len(telegram.calls) == calls_before, "a request with a wrong secret made the bot act"
        elif response.status_code == 400:
            assert not valid, f"a valid update was refused: {answer}"
            assert answer["error"]
        else:
            assert answer.get("ok") is True or answer.get("method") == "sendMessage", answer
        assert server_log.crashes() == []

    return check


RIGHT = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}


@fuzz_settings(250)
@given(update=updates())
def test_valid_updates_are_answered_200(bot_world: None, check_answer: Check, update: dict[str, Any]) -> None:
    check_answer(json.dumps(update).encode(), RIGHT, valid=True)


@fuzz_settings(200)
@given(update=mangled_updates())
def test_mangled_updates_are_answered_200_or_400(bot_world: None, check_answer: Check, update: Any) -> None:
    check_answer(json.dumps(update).encode(), RIGHT)


@fuzz_settings(100)
@given(body=raw_bodies)
def test_raw_bodies_are_answered_200_or_400(bot_world: None, check_answer: Check, body: bytes) -> None:
    check_answer(body, RIGHT)


wrong_secrets = st.one_of(
    st.from_regex(r"\A[A-Za-z0-9_\-]{0,80}\Z").filter(lambda secret: secret != WEBHOOK_SECRET),
    st.just(WEBHOOK_SECRET.upper()),
    st.just(WEBHOOK_SECRET + "x"),
    st.just(WEBHOOK_SECRET[:-1]),
)


@fuzz_settings(60)
@given(update=st.one_of(updates(), mangled_updates()), secret=st.one_of(st.none(), wrong_secrets))
def test_a_wrong_or_missing_secret_is_401_whatever_the_body(
    bot_world: None, check_answer: Check, update: Any, secret: str | None
) -> None:
    check_answer(json.dumps(update).encode(), {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret})


# ----- what the fuzzing found: each was a 500 or a traceback (fixed) -----
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"update_id": 1' + b"0" * 5000 + b"}", id="an integer of 5000 digits"),
        pytest.param(b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="nesting 100000 deep"),
    ],
)
def test_json_python_cannot_read_is_a_400(webhook: FunctionServer, server_log: ServerLog, body: bytes) -> None:
    response = webhook.post("/", data=body, headers=RIGHT)
    assert (response.status_code, response.json()) == (400, {"error": "body is not JSON"})
    assert server_log.crashes() == []


@pytest.mark.parametrize("field", ["from", "chat"])
def test_ids_beyond_telegrams_range_are_a_400(webhook: FunctionServer, server_log: ServerLog, field: str) -> None:
    update = message_update(7, "/login fuzz@example.com")
    update["message"][field]["id"] = 2**70  # would not even fit Firestore's 64-bit integers
    response = post_update(webhook, update)
    assert response.status_code == 400
    assert f"message.{field}.id" in response.json()["error"]
    assert server_log.crashes() == []


def test_a_password_with_a_lone_surrogate_is_a_wrong_password(
    bot_world: None, webhook: FunctionServer, telegram: FakeTelegram, server_log: ServerLog
) -> None:
    post_update(webhook, message_update(GUEST_WITH_ACCOUNT, "/login fuzz@example.com"))
    update = json.dumps(message_update(GUEST_WITH_ACCOUNT, "pass")).replace('"pass"', '"pa\\ud800ss"')
    assert webhook.post("/", data=update.encode(), headers=RIGHT).status_code == 200
    assert "incorrect" in telegram.last_text(GUEST_WITH_ACCOUNT)
    assert server_log.crashes() == []


@pytest.mark.parametrize("action_id", [".", "..", "__reserved__"])
def test_a_confirm_button_with_an_id_firestore_refuses_has_expired(
    bot_world: None, webhook: FunctionServer, telegram: FakeTelegram, server_log: ServerLog, action_id: str
) -> None:
    assert post_update(webhook, callback_update(1, f"act:{action_id}:y")).status_code == 200
    assert [call.params.get("text") for call in telegram.calls_to("answerCallbackQuery")] == [texts.BUTTON_EXPIRED]
    assert telegram.sent_texts(1) == []
    assert server_log.crashes() == []


@pytest.mark.parametrize("cursor", ["zzzzzzzzzzzz.deal-5", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.x"])
def test_a_more_button_with_a_cursor_past_any_timestamp_is_answered_not_a_crash(
    webhook: FunctionServer, telegram: FakeTelegram, server_log: ServerLog, cursor: str
) -> None:
    """Found by a review: the cursor's time overflowed a datetime (OverflowError) and the user got the apology."""
    link_user("u-more", 831_000, role="vendor")
    response = post_update(webhook, callback_update(831_000, f"crmmore:d:{cursor}"))
    assert response.status_code == 200
    assert telegram.sent_texts(831_000) != [texts.SOMETHING_WENT_WRONG]
    assert telegram.last_text(831_000) == texts.BUTTON_EXPIRED
    assert server_log.crashes() == []
