"""Faults: Firestore unreachable, for a whole request or from some point of it on.

The first test points a served function at a closed port, like an instance that lost its database. The others
fail chosen RPCs before they reach the emulator (conftest.FirestoreFaults), which is as unreachable as far as
the code can tell, and fast. Documented: the webhook answers 503 when it cannot claim an update (Telegram
delivers it again) and 200 with the apology once it has; notify answers 503 when it could record no event, and an
event it recorded is `pending` or `failed` until a re-drive sends it, never lost; admin answers 503.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
import requests
from google.cloud import firestore

from shared import clock
from shared.bot import texts
from shared.notify.ledger import LEASE
from shared.notify.signature import sign
from shared.store.db import TIMEOUT_SECONDS, get_db
from tests.chat import ChatUser, handled, message_update, post_update
from tests.crm_data import add_crm_user
from tests.fakes.gemini_api import FakeGemini, function_calls, text
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import ADMIN_TOKEN, NOTIFY_SECRET, WEBHOOK_SECRET, FunctionServer
from tests.reliability.conftest import FirestoreFaults, ServerLog, count_documents, writes_to
from tests.test_notify import event, ledger_doc, link_user, results, signed_post

pytestmark = pytest.mark.emulator

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WEBHOOK = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}


def exists(collection: str, document: str) -> bool:
    return bool(get_db().collection(collection).document(document).get().exists)


STORAGE_ROUTES = [
    ("GET", "/users", None),
    ("GET", "/stats", None),
    ("GET", "/audit", None),
    ("GET", "/notifications?status=pending", None),
    ("POST", "/users/827000/unlink", None),
    ("POST", "/link-codes", {"user_id": "u1"}),
    ("POST", "/notifications/redrive", {}),
    ("DELETE", "/lockouts/827000", None),
    ("DELETE", "/lockouts?email=vera@example.com", None),
]
"""Every admin route that reads or writes Firestore."""


def test_with_firestore_unreachable_each_function_answers_503_within_the_deadline(
    unreachable_firestore: str,
    webhook: FunctionServer,
    notify_fn: FunctionServer,
    admin_fn: FunctionServer,
    telegram: FakeTelegram,
    server_log: ServerLog,
) -> None:
    """Found by this suite: the client's default retries kept going for 60 s (writes) or 300 s (reads), past the
    functions' 60 s timeout."""
    patience = TIMEOUT_SECONDS + 5
    raw = json.dumps(event("ev-unreachable", "message")).encode()
    calls: dict[str, Callable[[], requests.Response]] = {
        "webhook": lambda: requests.post(
            webhook.url, json=message_update(820_000, "/help"), headers=WEBHOOK, timeout=patience
        ),
        "notify": lambda: requests.post(
            notify_fn.url,
            data=raw,
            headers={"X-Signature": sign(raw, NOTIFY_SECRET, int(time.time())), "Content-Type": "application/json"},
            timeout=patience,
        ),
    }
    for method, path, body in STORAGE_ROUTES:
        calls[f"admin {method} {path}"] = functools.partial(
            requests.request, method, admin_fn.url + path, json=body, headers=ADMIN, timeout=patience
        )

    def ask(call: Callable[[], requests.Response]) -> tuple[int | str, float]:
        started = time.monotonic()
        try:
            status: int | str = call().status_code
        except requests.Timeout:
            status = f"no answer within {patience:.0f} s"
        return status, time.monotonic() - started

    with ThreadPoolExecutor(len(calls)) as pool:
        answers = dict(zip(calls, pool.map(ask, calls.values()), strict=True))
    print("\n" + "\n".join(f"{name}: {status} after {seconds:.1f} s" for name, (status, seconds) in answers.items()))
    assert {name: status for name, (status, _) in answers.items()} == dict.fromkeys(calls, 503)
    assert telegram.calls == []
    assert server_log.crashes() == []


def at_the_password_step(webhook: FunctionServer, telegram_user_id: int) -> ChatUser:
    """A Telegram user half-way through logging in as a CRM user: the next message is taken as the password."""
    add_crm_user("u-1", "vera@example.com")
    user = ChatUser(webhook, telegram_user_id)
    user.send("/login vera@example.com")
    return user


def test_a_transaction_with_firestore_unreachable_fails_within_the_deadline(
    webhook: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    at_the_password_step(webhook, 828_000)
    replies = len(telegram.sent_texts(828_000))

    def transactional(method: str, request: Any) -> bool:
        return method in ("BeginTransaction", "Rollback") or (method == "Commit" and bool(request.transaction))

    firestore_faults.fail(transactional, status=grpc.StatusCode.UNAVAILABLE)  # what an unreachable database says
    patience = TIMEOUT_SECONDS + 5
    started = time.monotonic()
    try:
        webhook.post("/", json=message_update(828_000, "correct horse"), headers=WEBHOOK, timeout=patience)
        answered: float | None = time.monotonic() - started
    except requests.Timeout:
        answered = None
    finally:  # let a request still running finish now, so that it sends nothing during another test
        firestore_faults.recover()
        deadline = time.monotonic() + 30
        while len(telegram.sent_texts(828_000)) == replies and time.monotonic() < deadline:
            time.sleep(0.2)
    assert answered is not None, f"no answer within {patience:.0f} s"
    assert telegram.sent_texts(828_000)[-1] == texts.SOMETHING_WENT_WRONG
    assert server_log.crashes() == []


def test_a_transaction_that_keeps_being_aborted_gets_the_apology_not_a_crash(
    webhook: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    user = at_the_password_step(webhook, 829_000)

    bystander = firestore.Client(project=get_db().project)  # a client the faults do not touch

    def aborted_commit(method: str, request: Any) -> bool:
        if method != "Commit" or not request.transaction:
            return False
        # An aborted commit leaves nothing held; the injected one must not leave its locks in the emulator.
        bystander._firestore_api.rollback(request={"database": request.database, "transaction": request.transaction})
        return True

    firestore_faults.fail(aborted_commit, status=grpc.StatusCode.ABORTED)  # contention, every attempt
    user.send("correct horse")
    firestore_faults.recover()

    assert telegram.sent_texts(829_000)[-1] == texts.SOMETHING_WENT_WRONG
    gave_up = [record for record in server_log.records if "Failed to commit transaction" in record.getMessage()]
    assert len(gave_up) == 1
    assert gave_up[0].exc_info is None, "running out of attempts is logged as a storage failure, not as a bug"


def test_a_claim_whose_answer_was_lost_is_still_ours_so_the_update_is_handled(
    webhook: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    firestore_faults.lose_next_answer(writes_to("tg_processed_updates"))
    update = message_update(826_000, "/help")
    assert handled(post_update(webhook, update)), "the retried create met our own claim"
    assert firestore_faults.failed == ["Commit"]
    assert len(telegram.sent_texts(826_000)) == 1
    assert post_update(webhook, update).json() == {"ok": True, "duplicate": True}, "a real repeat still is one"
    assert len(telegram.sent_texts(826_000)) == 1
    assert server_log.crashes() == []


def test_a_ledger_entry_whose_answer_was_lost_is_still_ours_so_the_event_is_sent(
    notify_fn: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    link_user("u1", 827_000)
    firestore_faults.lose_next_answer(writes_to("tg_notifications"))
    assert [r["status"] for r in results(signed_post(notify_fn, event("ev-lost", "message")))] == ["sent"]
    assert firestore_faults.failed == ["Commit"]
    assert [r["status"] for r in results(signed_post(notify_fn, event("ev-lost", "message")))] == ["duplicate"]
    assert len(telegram.sent_texts(827_000)) == 1
    assert (ledger_doc("ev-lost") or {}).get("duplicates") == 1
    assert server_log.crashes() == []


def test_webhook_answers_503_until_it_can_claim_the_update_then_handles_it_once(
    webhook: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    update = message_update(821_000, "/help")
    firestore_faults.fail()
    response = post_update(webhook, update)
    assert (response.status_code, response.json()) == (503, {"error": "storage unavailable, retry later"})
    assert telegram.calls == []

    firestore_faults.recover()  # Telegram delivers the update again, and once more
    assert handled(post_update(webhook, update))
    assert post_update(webhook, update).json() == {"ok": True, "duplicate": True}
    assert len(telegram.sent_texts(821_000)) == 1
    assert server_log.crashes() == []


def test_after_the_claim_a_firestore_failure_gets_the_apology_and_the_update_stays_answered(
    webhook: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    link_user("u1", 822_000, role="vendor")
    update = message_update(822_000, "/me")
    firestore_faults.fail(lambda method, request: method != "Commit" or bool(request.transaction))  # claims work
    assert handled(post_update(webhook, update))
    assert telegram.sent_texts(822_000) == [texts.SOMETHING_WENT_WRONG]
    firestore_faults.recover()
    assert post_update(webhook, update).json() == {"ok": True, "duplicate": True}
    assert server_log.crashes() == []


@pytest.mark.parametrize("password", ["correct horse", "wrong password"])
def test_a_password_check_that_cannot_commit_changes_nothing(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
    password: str,
) -> None:
    user = at_the_password_step(webhook, 823_000)
    flow_before = get_db().collection("tg_login_flows").document("823000").get().to_dict()
    audit_before = count_documents("tg_audit")

    firestore_faults.fail(lambda method, request: method == "Commit" and bool(request.transaction))
    user.send(password)
    firestore_faults.recover()

    assert firestore_faults.failed == ["Commit"]
    assert telegram.last_text(823_000) == texts.SOMETHING_WENT_WRONG
    assert get_db().collection("tg_login_flows").document("823000").get().to_dict() == flow_before
    assert not exists("tg_links", "823000")
    assert count_documents("tg_login_failures") == 0, "a failure that was not recorded does not count"
    assert count_documents("tg_audit") == audit_before
    user.send("correct horse")  # the user tries again once Firestore is back
    assert exists("tg_links", "823000")
    assert server_log.crashes() == []


def test_a_logout_that_fails_half_way_leaves_the_link_or_no_history(
    webhook: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    link_user("u1", 824_000, role="vendor")
    secret = {"crm_user_id": "u1", "contents": ["a secret deal"]}
    get_db().collection("tg_history").document("824000").set({"exchanges": {"20260101000000000000-00": secret}})
    firestore_faults.fail_writes_to("tg_history")
    ChatUser(webhook, 824_000).send("/logout")
    firestore_faults.recover()

    assert telegram.last_text(824_000) == texts.SOMETHING_WENT_WRONG
    assert server_log.crashes() == []
    linked, history_kept = exists("tg_links", "824000"), exists("tg_history", "824000")
    assert linked or not history_kept, "unlinked, but the conversation of the account is still there"


def test_notify_answers_503_when_it_can_record_no_event_and_a_resend_delivers_once(
    notify_fn: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    link_user("u1", 825_000)
    batch = {"events": [event("ev-a", "message"), event("ev-b", "message", text="second")]}
    firestore_faults.fail()
    response = signed_post(notify_fn, batch)
    firestore_faults.recover()

    assert response.status_code == 503
    body: dict[str, Any] = response.json()
    assert [(r["id"], r["status"], r["retry"]) for r in body["results"]] == [
        ("ev-a", "failed", True),
        ("ev-b", "failed", True),
    ]
    assert ledger_doc("ev-a") is None
    assert ledger_doc("ev-b") is None
    assert telegram.calls_to("sendMessage") == []

    assert [r["status"] for r in results(signed_post(notify_fn, batch))] == ["sent", "sent"]
    assert [r["status"] for r in results(signed_post(notify_fn, batch))] == ["duplicate", "duplicate"]
    assert len(telegram.calls_to("sendMessage")) == 2
    assert server_log.crashes() == []


def test_notify_event_recorded_before_firestore_failed_stays_pending_until_a_redrive_sends_it(
    notify_fn: FunctionServer,
    admin_fn: FunctionServer,
    telegram: FakeTelegram,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    link_user("u1", 826_000)
    calls = 0

    def after_the_claim(method: str, request: Any) -> bool:
        nonlocal calls
        calls += 1
        return calls > 1

    firestore_faults.fail(after_the_claim)
    [result] = results(signed_post(notify_fn, event("ev-late", "message")))
    firestore_faults.recover()

    assert result["status"] == "failed"
    assert "storage unavailable" in result["reason"]
    entry = ledger_doc("ev-late")
    assert entry is not None, "the event was recorded: it is never lost"
    assert entry["status"] == "pending", "its outcome could not be written: it stays pending under its lease"
    assert telegram.calls_to("sendMessage") == []

    redrive = admin_fn.post("/notifications/redrive", headers=ADMIN, json={})
    assert (redrive.json()["results"], redrive.json()["skipped"]) == ([], 1), "its lease still holds it"
    clock.advance(LEASE + dt.timedelta(seconds=1))
    redrive = admin_fn.post("/notifications/redrive", headers=ADMIN, json={})
    assert [r["status"] for r in redrive.json()["results"]] == ["sent"]
    assert len(telegram.calls_to("sendMessage")) == 1
    assert (ledger_doc("ev-late") or {})["status"] == "sent"
    assert server_log.crashes() == []


def test_admin_answers_503_on_every_route_that_needs_firestore(
    admin_fn: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    link_user("u1", 827_000)
    firestore_faults.fail()
    for method, path, body in STORAGE_ROUTES:
        response = admin_fn.request(method, path, headers=ADMIN, json=body)
        assert (response.status_code, response.json()) == (503, {"error": "storage unavailable, retry later"}), path
    assert admin_fn.get("/bot/info", headers=ADMIN).status_code == 200, "routes that only need Telegram still work"
    firestore_faults.recover()

    assert exists("tg_links", "827000"), "the failed unlink changed nothing"
    assert telegram.calls_to("deleteMyCommands") == []
    assert server_log.crashes() == []


def test_a_tool_whose_reads_fail_tells_the_model_so_and_the_turn_goes_on(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    """call_tool let any exception but a refusal out, so a fault inside one tool ended the whole turn."""
    link_user("u1", 829_000, role="vendor")
    gemini.enqueue(function_calls([("list_deals", {})]), text("The CRM is not answering right now."))

    def deal_queries(method: str, request: Any) -> bool:
        return method == "RunQuery" and any(part.collection_id == "deals" for part in request.structured_query.from_)

    firestore_faults.fail(deal_queries)
    ChatUser(webhook, 829_000).send("show my deals")
    firestore_faults.recover()

    answered = gemini.generate_requests()[1].json["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert (answered["ok"], answered["retryable"]) == (False, True)
    assert telegram.last_text(829_000) == "The CRM is not answering right now."
    assert server_log.crashes() == []


def test_a_change_whose_confirmation_cannot_be_stored_tells_the_model_it_may_try_again(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    """The proposal's write is the store's like any other: its failure is the CRM's data out of reach, not a bug."""
    link_user("u1", 829_500, role="vendor")
    gemini.enqueue(function_calls([("create_lead", {"name": "Jane Doe"})]), text("I could not prepare that."))
    firestore_faults.fail(writes_to("tg_pending_actions"))
    ChatUser(webhook, 829_500).send("add a lead Jane Doe")
    firestore_faults.recover()

    answered = gemini.generate_requests()[1].json["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert (answered["ok"], answered["retryable"]) == (False, True)
    assert answered["detail"].startswith("the CRM's data could not be reached")
    assert count_documents("tg_pending_actions") == 0
    assert telegram.last_text(829_500) == "I could not prepare that."
    assert server_log.crashes() == []


def proposed_payment(webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini) -> tuple[ChatUser, str]:
    """A vendor shown the Confirm button of a payment of 5,000 EUR for order 3: (the vendor, Confirm's data)."""
    link_user("u-pay", 832_000, role="vendor")
    now = clock.now()
    get_db().collection("orders").document("order-3").set(
        {"org_id": "org-1", "number": 3, "status": "confirmed", "total": 5000.0, "currency": "EUR", "created_at": now}
    )
    gemini.enqueue(function_calls([("record_payment", {"order": "3", "amount": 5000})]), text("Please confirm."))
    user = ChatUser(webhook, 832_000)
    user.send("Record a payment of 5000 for order 3")
    prompt = telegram.calls_to("sendMessage")[-1].params
    return user, prompt["reply_markup"]["inline_keyboard"][0][0]["callback_data"]


def test_a_confirmed_payment_whose_write_failed_can_be_confirmed_again_and_is_recorded_once(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    """Found by a review: the action was marked confirmed before it ran, so when the write failed nothing was
    recorded and the next tap said 'This action was already handled.'"""
    user, confirm = proposed_payment(webhook, telegram, gemini)
    firestore_faults.fail_writes_to("payments")
    user.press(confirm)
    firestore_faults.recover()
    assert count_documents("payments") == 0
    edited = telegram.calls_to("editMessageText")[-1].params
    assert "Tap Confirm to try again" in edited["text"]
    assert edited["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == confirm, "the buttons stay"

    user.press(confirm)
    assert count_documents("payments") == 1
    assert "Done" in telegram.calls_to("editMessageText")[-1].params["text"]
    assert server_log.crashes() == []


def test_a_confirmed_payment_whose_commit_answer_was_lost_is_recorded_once(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    """The payment's commit reaches Firestore but its answer does not: the write's second try finds it, adds none."""
    user, confirm = proposed_payment(webhook, telegram, gemini)
    firestore_faults.lose_next_answer(writes_to("payments"))
    user.press(confirm)
    assert firestore_faults.failed == ["Commit"]
    assert count_documents("payments") == 1, "the write happened once; its second try found it"
    assert "Done" in telegram.calls_to("editMessageText")[-1].params["text"]
    user.press(confirm)
    assert count_documents("payments") == 1
    assert telegram.calls_to("answerCallbackQuery")[-1].params["text"] == "✅ This was already done."
    assert server_log.crashes() == []


def test_a_payment_made_before_its_outcome_could_be_recorded_is_told_done_and_never_made_twice(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    user, confirm = proposed_payment(webhook, telegram, gemini)

    def outcome_writes(method: str, request: Any) -> bool:  # the claim is a transaction; the outcome is not
        return writes_to("tg_pending_actions")(method, request) and not request.transaction

    firestore_faults.fail(outcome_writes)
    user.press(confirm)
    firestore_faults.recover()
    assert count_documents("payments") == 1
    assert "Done" in telegram.calls_to("editMessageText")[-1].params["text"]
    assert texts.SOMETHING_WENT_WRONG not in telegram.sent_texts(832_000)

    user.press(confirm)  # within the run's lease: it may still be running, so nothing runs
    assert count_documents("payments") == 1
    clock.advance(dt.timedelta(minutes=4))
    user.press(confirm)  # past it, before the confirmation expires: taken up again; the create finds its payment
    assert count_documents("payments") == 1
    assert "Done" in telegram.calls_to("editMessageText")[-1].params["text"]
    assert server_log.crashes() == []


def reads_of(collection: str) -> Callable[[str, Any], bool]:
    """Selects the document reads of `collection` (a transaction's gets included)."""
    marker = f"/documents/{collection}/"

    def selected(method: str, request: Any) -> bool:
        return method == "BatchGetDocuments" and any(marker in name for name in request.documents)

    return selected


def test_a_confirmed_delete_run_again_after_its_first_run_deleted_it_is_reported_done(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    """Found by a review: a delete whose first run committed was planned again, found nothing and said 'Not done'."""
    link_user("u-del", 833_000, role="vendor")
    get_db().collection("orders").document("order-3").set(
        {
            "org_id": "org-1",
            "number": 3,
            "status": "confirmed",
            "total": 1.0,
            "currency": "EUR",
            "created_at": clock.now(),
        }
    )
    gemini.enqueue(function_calls([("delete_record", {"kind": "order", "record": "3"})]), text("Please confirm."))
    user = ChatUser(webhook, 833_000)
    user.send("Delete order 3")
    confirm = telegram.calls_to("sendMessage")[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    firestore_faults.lose_next_answer(writes_to("orders"))
    # and once that commit is through, the write's second try cannot look:
    firestore_faults.fail(
        lambda method, request: "Commit" in firestore_faults.failed and reads_of("orders")(method, request)
    )
    user.press(confirm)
    firestore_faults.recover()
    assert count_documents("orders") == 0
    assert "Tap Confirm to try again" in telegram.calls_to("editMessageText")[-1].params["text"]

    user.press(confirm)
    assert "Done" in telegram.calls_to("editMessageText")[-1].params["text"]
    assert server_log.crashes() == []


def test_a_customers_ticket_whose_commit_answer_was_lost_is_opened_once(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    """Found by a review: a customer's ticket (no Confirm tap) whose commit answer was lost was told 'try again', so
    the model's second call opened a second ticket."""
    link_user("u-cust", 834_000, role="customer", customer_id="cust-1")
    gemini.enqueue(function_calls([("create_issue", {"title": "Login problems"})]), text("I've opened a ticket."))
    firestore_faults.lose_next_answer(writes_to("issues"))
    ChatUser(webhook, 834_000).send("Open a ticket about my login problems")
    assert firestore_faults.failed == ["Commit"]
    assert count_documents("issues") == 1
    answered = gemini.generate_requests()[1].json["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert answered["ok"] is True
    assert server_log.crashes() == []


def test_a_direct_write_that_may_have_landed_is_not_offered_as_worth_retrying(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    firestore_faults: FirestoreFaults,
    server_log: ServerLog,
) -> None:
    link_user("u-cust", 835_000, role="customer", customer_id="cust-1")
    gemini.enqueue(function_calls([("create_issue", {"title": "Login problems"})]), text("Something went wrong."))
    firestore_faults.fail(writes_to("issues"))
    ChatUser(webhook, 835_000).send("Open a ticket about my login problems")
    answered = gemini.generate_requests()[1].json["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert answered["ok"] is False
    assert "retryable" not in answered
    assert "may have been done" in answered["detail"]
    assert server_log.crashes() == []
