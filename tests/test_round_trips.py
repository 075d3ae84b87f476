"""How long an update waits on Firestore: round trips one after another on the way to the answer, counted on the
emulator channel (tests/firestore_rpcs.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from shared import clock
from shared.bot import conversation
from shared.bot.webhook import SECRET_HEADER
from shared.roles import Role
from shared.store import db
from shared.store.db import get_db
from shared.store.links import Link, save_link
from tests import firestore_rpcs
from tests.chat import message_update, post_update
from tests.crm_data import add_crm_user
from tests.fakes import gemini_api
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.telegram_api import FakeTelegram
from tests.firestore_rpcs import FirestoreRpcs
from tests.harness import WEBHOOK_SECRET, FunctionServer, run_webhook_answer

pytestmark = pytest.mark.emulator

USER = 4242


@pytest.fixture
def rpcs(env: dict[str, str]) -> Iterator[FirestoreRpcs]:
    observed = firestore_rpcs.install()
    yield observed
    db.stop_observing()


@pytest.fixture
def linked(env: dict[str, str]) -> int:
    add_crm_user("u-1", "vera@example.com", name="Vera", org_id="org-1")
    save_link(
        Link(
            telegram_user_id=USER,
            chat_id=USER,
            crm_user_id="u-1",
            role=Role.VENDOR,
            org_id="org-1",
            name="Vera",
            email="vera@example.com",
            linked_at=clock.now(),
        )
    )
    return USER


def _day_counters() -> dict[str, int]:
    totals: dict[str, int] = {}
    for snapshot in get_db().collection("tg_counters").stream():
        for name, value in (snapshot.to_dict() or {}).get("commands", {}).items():
            totals[name] = totals.get(name, 0) + value
    return totals


def test_a_linked_command_waits_for_two_round_trips_one_after_another(
    webhook: FunctionServer, telegram: FakeTelegram, rpcs: FirestoreRpcs, linked: int
) -> None:
    post_update(webhook, message_update(linked, "/help"))  # warm: clients, connections
    chains = []
    for _ in range(3):  # on a loaded machine the link read's thread may start only after the claim came back
        rpcs.reset()
        assert post_update(webhook, message_update(linked, "/me")).status_code == 200
        assert "Your account" in telegram.last_text(linked)
        chains.append(rpcs.sequential_round_trips())
    assert min(chains) <= 2, chains
    assert max(chains) <= 3, chains  # the claim, the link and the CRM user, at worst one after another
    assert _day_counters() == {"help": 1, "me": 3}


def test_a_duplicate_waits_for_one_round_trip_and_counts_nothing(
    webhook: FunctionServer, telegram: FakeTelegram, rpcs: FirestoreRpcs, linked: int
) -> None:
    update = message_update(linked, "/me")
    assert post_update(webhook, update).status_code == 200
    telegram.reset()
    rpcs.reset()
    response = post_update(webhook, update)
    assert response.json() == {"ok": True, "duplicate": True}
    assert telegram.calls == []
    assert rpcs.sequential_round_trips() == 1, rpcs.calls
    assert _day_counters() == {"me": 1}


def _raw_post(webhook: FunctionServer, update: dict[str, object]) -> requests.Response:
    """A post whose answer nobody runs: what the webhook did before answering, and only that."""
    return requests.post(webhook.url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}, timeout=30)


def test_a_linked_commands_reply_goes_in_the_webhooks_answer_with_no_bot_api_call_before_it(
    webhook: FunctionServer, telegram: FakeTelegram, linked: int
) -> None:
    response = _raw_post(webhook, message_update(linked, "/me"))
    assert telegram.calls == []
    answer = response.json()
    assert (answer["method"], answer["chat_id"], answer["parse_mode"]) == ("sendMessage", linked, "HTML")
    assert "Your account" in answer["text"]
    run_webhook_answer(response, webhook.bot_api or "")
    assert "Your account" in telegram.last_text(linked)


def test_of_two_replies_the_first_goes_by_the_bot_api_and_the_last_in_the_answer(
    webhook: FunctionServer, telegram: FakeTelegram, linked: int
) -> None:
    add_crm_user("u-1", "vera@example.com", name="Vera", org_id="org-1", role="employee")  # the link says vendor
    response = _raw_post(webhook, message_update(linked, "/me"))
    assert [call.method for call in telegram.calls] == ["setMyCommands", "sendMessage"]
    assert "employee" in telegram.last_text(linked)
    assert "Your account" in response.json()["text"]


def test_a_reply_said_long_after_the_update_arrived_goes_by_the_bot_api(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    linked: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Telegram may have stopped waiting for the answer of a slow update (and send it again, answered as a
    duplicate): a reply said that late would be lost with the first answer."""
    monkeypatch.setattr(conversation, "HOLD_SECONDS", 0.3)
    gemini.enqueue(gemini_api.slow(0.6, gemini_api.blocked_prompt()))
    response = _raw_post(webhook, message_update(linked, "hello"))
    assert response.json() == {"ok": True}
    assert [call.method for call in telegram.calls if call.method != "sendChatAction"] == ["sendMessage"]
