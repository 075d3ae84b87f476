"""The notify function over HTTP: signatures, bodies, idempotency, Telegram failures, preferences, pacing."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from typing import Any

import pytest
import requests

from shared import clock
from shared.auth.passwords import hash_password
from shared.notify.ledger import entry_id
from shared.notify.signature import sign
from shared.roles import Role
from shared.store import links
from shared.store.db import Collections, get_db
from shared.store.links import Link, NotificationPreferences
from tests.chat import next_update_id, post_update
from tests.crm_data import FAST_ITERATIONS
from tests.crm_world import CrmWorld, FirestoreWorld
from tests.fakes.telegram_api import MAX_TEXT_UTF16, FakeTelegram, utf16_len, visible_text
from tests.harness import NOTIFY_SECRET, ROOT, FunctionServer

pytestmark = pytest.mark.emulator

WEBSITE = "https://crm.example.com"  # WEBSITE_URL in the test environment


# ----- helpers (also used by the other test_notify_* modules) -----
def add_crm_user(
    world: CrmWorld,
    user_id: str,
    email: str,
    *,
    role: str = "customer",
    org_id: str = "org-1",
    customer_id: str | None = None,
    is_active: bool = True,
) -> None:
    """A CRM user in `world` (either adapter's CRM), with the fields tests/crm_data.py writes."""
    fields: dict[str, Any] = {
        "email": email.lower(),
        "name": "Test User",
        "role": role,
        "org_id": org_id,
        "password_hash": hash_password("correct horse", FAST_ITERATIONS),
        "is_active": is_active,
    }
    if customer_id is not None:
        fields["customer_id"] = customer_id
    world.add_user(user_id, fields)


def link_user(
    crm_user_id: str,
    telegram_user_id: int,
    *,
    role: str = "customer",
    customer_id: str | None = None,
    org_id: str = "org-1",
    email: str | None = None,
    is_active: bool = True,
    blocked: bool = False,
    notifications: NotificationPreferences | None = None,
    world: CrmWorld | None = None,
) -> Link:
    """A CRM user (in `world`; Firestore's CRM by default) with a Telegram link whose private chat id is the
    Telegram user id."""
    email = email or f"{crm_user_id}@example.com"
    if role == "customer" and customer_id is None:
        customer_id = f"cust-of-{crm_user_id}"
    add_crm_user(
        world or FirestoreWorld(),
        crm_user_id,
        email,
        role=role,
        org_id=org_id,
        customer_id=customer_id,
        is_active=is_active,
    )
    link = Link(
        telegram_user_id=telegram_user_id,
        chat_id=telegram_user_id,
        crm_user_id=crm_user_id,
        role=Role(role),
        org_id=org_id,
        name="Test User",
        email=email,
        customer_id=customer_id,
        linked_at=clock.now(),
        blocked=blocked,
        notifications=notifications or NotificationPreferences(),
    )
    links.save_link(link)
    return link


def event(event_id: str, event_type: str = "file.received", user_id: str | None = "u1", **data: Any) -> dict[str, Any]:
    """An event body for `event_type` with plausible data; keyword arguments replace data fields."""
    defaults: dict[str, dict[str, Any]] = {
        "file": {"file_id": "f1", "file_name": "stage1_golf_tdi.bin"},
        "order": {"order_id": "o1", "order_number": "1042", "total": "120.5", "currency": "EUR"},
        "payment": {"order_number": "1042", "amount": 50, "currency": "EUR"},
        "message": {"text": "Hello from the team"},
    }
    body: dict[str, Any] = {
        "id": event_id,
        "type": event_type,
        "occurred_at": "2024-01-15T14:30:00Z",
        "data": {**defaults[event_type.split(".")[0]], **data},
    }
    if user_id is not None:
        body["user_id"] = user_id
    return body


def signed_post(
    notify_fn: FunctionServer,
    body: Any,
    *,
    secret: str = NOTIFY_SECRET,
    at: int | None = None,
    header: str | None = None,
) -> requests.Response:
    """POST a body signed the way the CRM signs it (docs/notify.md)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = at if at is not None else int(clock.now().timestamp())
    signature = header if header is not None else sign(raw, secret, timestamp)
    return notify_fn.post("/", data=raw, headers={"X-Signature": signature, "Content-Type": "application/json"})


def ledger_doc(event_id: str) -> dict[str, Any] | None:
    snapshot = get_db().collection(Collections.NOTIFICATIONS).document(entry_id(event_id)).get()
    data: dict[str, Any] | None = snapshot.to_dict() if snapshot.exists else None
    return data


def results(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["results"]
    return listed


# ----- the happy path -----
def test_signed_event_is_sent_in_the_guide_style_and_recorded(
    notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501, customer_id="c1")
    body = event("evt-1", file_name="stage1 <golf> & tdi.bin", customer_id="c1", crm_only_field={"x": 1})
    [result] = results(signed_post(notify_fn, body))
    assert result["status"] == "sent"
    assert isinstance(result["telegram_message_id"], int)

    [call] = telegram.calls_to("sendMessage")
    assert call.params["parse_mode"] == "HTML"
    assert call.params["text"] == (
        "<b>📥 File Status Update</b>\n\n"
        "📄 File: <b>stage1 &lt;golf&gt; &amp; tdi.bin</b>\n"
        "📊 Status: RECEIVED\n"
        "💬 Update: We've received your file; it's in our queue.\n\n"
        f'🔗 <a href="{WEBSITE}">View your files</a>\n\n'
        "🕐 Updated: 2024-01-15 14:30 UTC"
    )
    entry = ledger_doc("evt-1")
    assert entry is not None
    assert entry["status"] == "sent"
    assert entry["attempts"] == 1
    assert entry["telegram_message_id"] == result["telegram_message_id"]
    assert (entry["crm_user_id"], entry["telegram_user_id"], entry["chat_id"]) == ("u1", 501, 501)
    assert entry["event"]["data"]["file_name"] == "stage1 <golf> & tdi.bin"
    assert "crm_only_field" not in entry["event"]["data"]
    assert entry["lease_until"] is None
    assert entry["sent_at"] >= entry["received_at"]


def test_every_event_type_is_delivered_by_user_id_or_email(
    crm_world: CrmWorld, notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    bodies = [
        event("e-file-processing", "file.processing", message="Tuning the map now."),
        event("e-file-ready", "file.ready"),
        event("e-file-eta", "file.eta_set", eta="2024-01-16T09:00:00+00:00"),
        event("e-file-comment", "file.comment_added", comment="Please check the <b>DTC</b> list"),
        event("e-order-confirmed", "order.confirmed"),
        event("e-order-paid", "order.paid"),
        event("e-order-shipped", "order.shipped", tracking_url="https://track.example/p?id=1&x=2"),
        event("e-order-delivered", "order.delivered"),
        event("e-payment", "payment.received"),
        {**event("e-message", "message", user_id=None, text="Closed on Friday <3"), "email": "Pat@Example.com"},
    ]
    for n, body in enumerate(bodies):  # one chat each, so the per-chat pacing does not slow the test down
        link_user(f"u{n}", 500 + n, email="pat@example.com" if "email" in body else None, world=crm_world)
        if "user_id" in body:
            body["user_id"] = f"u{n}"
    listed = results(signed_post(notify_fn, {"events": bodies}))
    assert [r["status"] for r in listed] == ["sent"] * len(bodies)
    texts = [telegram.last_text(500 + n) for n in range(len(bodies))]
    assert texts[0].startswith("<b>⏳ File Status Update</b>")
    assert "Tuning the map now." in texts[0]
    assert texts[1].startswith("<b>✅ File Ready</b>")
    assert "📊 Status: READY" in texts[1]
    assert "⏱️ Estimated time: 2024-01-16 09:00 UTC" in texts[2]
    assert "📝 Comment: Please check the &lt;b&gt;DTC&lt;/b&gt; list" in texts[3]
    assert "🛒 Order: <b>#1042</b>" in texts[4]
    assert "💰 Total: 120.50 EUR" in texts[4]
    assert "📊 Status: PAID" in texts[5]
    assert 'href="https://track.example/p?id=1&amp;x=2"' in texts[6]
    assert "📊 Status: DELIVERED" in texts[7]
    assert "💵 Amount: 50.00 EUR" in texts[8]
    assert "View your orders" in texts[8]
    assert "Closed on Friday &lt;3" in texts[9]


def test_a_notification_longer_than_telegram_allows_is_shortened_and_sent_once(
    notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    link_user("u2", 502)
    bodies = [  # within the CRM's limits in characters, but Telegram counts each emoji as two
        event("e-message", "message", text="🚗" * 3500),
        event(
            "e-comment",
            "file.comment_added",
            user_id="u2",
            file_name="📄" * 255,
            message="🔧" * 1000,
            comment="💬" * 1000,
        ),
    ]
    assert [r["status"] for r in results(signed_post(notify_fn, {"events": bodies}))] == ["sent", "sent"]
    assert len(telegram.calls_to("sendMessage")) == 2
    message, comment = telegram.last_text(501), telegram.last_text(502)
    for text in (message, comment):
        shown, error = visible_text(text, "HTML")
        assert error is None
        assert utf16_len(shown) <= MAX_TEXT_UTF16
        assert text.endswith("🕐 Updated: 2024-01-15 14:30 UTC")
    assert f'🚗…\n\n🔗 <a href="{WEBSITE}">Open your account</a>' in message
    assert "📄 File: <b>📄📄" in comment
    assert "🔧…\n📝 Comment: 💬💬" in comment
    assert f'💬…\n\n🔗 <a href="{WEBSITE}">View your files</a>' in comment
    for event_id in ("e-message", "e-comment"):
        entry = ledger_doc(event_id)
        assert entry is not None
        assert (entry["status"], entry["attempts"]) == ("sent", 1)


# ----- authentication -----
def _now() -> int:
    return int(clock.now().timestamp())


@pytest.mark.parametrize(
    ("header", "secret", "skew", "reason"),
    [
        ("", NOTIFY_SECRET, 0, "missing"),
        ("v1=abc", NOTIFY_SECRET, 0, "malformed"),
        ("t=notanumber,v1=abc", NOTIFY_SECRET, 0, "malformed"),
        ("t=1700000000", NOTIFY_SECRET, 0, "malformed"),
        # Past year 9999, beyond what a datetime holds; the secret is not needed to send it.
        ("t=253402300800,v1=00", NOTIFY_SECRET, 0, "away from the server's time"),
        ("t=999999999999,v1=00", NOTIFY_SECRET, 0, "away from the server's time"),
        ("t=0,v1=00", NOTIFY_SECRET, 0, "away from the server's time"),
        (None, "another-secret", 0, "does not match"),
        # 302 s, not 301: t= is whole seconds, and a second can pass before the server checks.
        (None, NOTIFY_SECRET, -302, "away from the server's time"),
        (None, NOTIFY_SECRET, 302, "away from the server's time"),
    ],
)
def test_bad_missing_or_stale_signature_is_401_and_does_nothing(
    notify_fn: FunctionServer, telegram: FakeTelegram, header: str | None, secret: str, skew: int, reason: str
) -> None:
    link_user("u1", 501)
    response = signed_post(notify_fn, event("evt-1"), secret=secret, at=_now() + skew, header=header)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert telegram.calls == []
    assert ledger_doc("evt-1") is None


def test_body_changed_after_signing_is_401(notify_fn: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501)
    signed = json.dumps(event("evt-1")).encode()
    header = sign(signed, NOTIFY_SECRET, _now())
    response = signed_post(notify_fn, json.dumps(event("evt-1", file_name="other.bin")).encode(), header=header)
    assert response.status_code == 401
    assert telegram.calls == []


def test_signature_goes_stale_after_five_minutes(notify_fn: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501)
    raw = json.dumps(event("evt-1")).encode()
    header = sign(raw, NOTIFY_SECRET, _now())
    clock.advance(dt.timedelta(minutes=5, seconds=2))
    assert signed_post(notify_fn, raw, header=header).status_code == 401
    assert telegram.calls == []


@pytest.mark.parametrize("skew", [-290, 290])
def test_signature_within_five_minutes_is_accepted(
    notify_fn: FunctionServer, telegram: FakeTelegram, skew: int
) -> None:
    link_user("u1", 501)
    [result] = results(signed_post(notify_fn, event("evt-1"), at=_now() + skew))
    assert result["status"] == "sent"


def test_signature_rotation_accepts_any_listed_v1(notify_fn: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501)
    raw = json.dumps(event("evt-1")).encode()
    at = _now()
    good = sign(raw, NOTIFY_SECRET, at).split(",v1=")[1]
    old = sign(raw, "old-secret", at).split(",v1=")[1]
    [result] = results(signed_post(notify_fn, raw, header=f"t={at},v1={old},v1={good.upper()}"))
    assert result["status"] == "sent"


def test_get_is_405_and_missing_secret_is_503(
    notify_fn: FunctionServer, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert notify_fn.get("/").status_code == 405
    from shared.config import get_settings

    monkeypatch.setenv("NOTIFY_SIGNING_SECRET", "")
    get_settings.forget()
    response = signed_post(notify_fn, event("evt-1"))
    assert response.status_code == 503
    assert "NOTIFY_SIGNING_SECRET is not set" in response.json()["error"]


def test_a_body_over_1_mb_is_413(notify_fn: FunctionServer, telegram: FakeTelegram) -> None:
    response = signed_post(notify_fn, {"events": [event("e1", "message", text="x" * 1_000_000)]})
    assert response.status_code == 413
    assert telegram.calls == []


# ----- malformed bodies -----
def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copy


def _with(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**body, **fields}


FILE = event("evt-1")
UNKNOWN = _with(FILE, id="evt-unknown", type="file.deleted")
"""A well-formed event of a type this bot does not know (a newer CRM's)."""
MALFORMED: list[tuple[str, Any, str | None]] = [
    ("not JSON", b"{not json", None),
    ("not UTF-8", b"\xff\xfe", None),
    ("a JSON array", b"[]", None),
    ("events not a list", {"events": {"id": "x"}}, "events"),
    ("no events", {"events": []}, "events"),
    ("101 events", {"events": [event(f"e{i}") for i in range(101)]}, "events"),
    ("event not an object", {"events": [FILE, 7]}, "events[1]"),
    ("missing id", _without(FILE, "id"), "id"),
    ("empty id", _with(FILE, id=""), "id"),
    ("missing type", _without(FILE, "type"), "type"),
    ("type not a string", _with(FILE, type=5), "type"),
    ("empty type", _with(FILE, type=" "), "type"),
    ("type too long", _with(FILE, type="x" * 101), "type"),
    ("missing occurred_at", _without(FILE, "occurred_at"), "occurred_at"),
    ("occurred_at not a time", _with(FILE, occurred_at="yesterday"), "occurred_at"),
    ("occurred_at without zone", _with(FILE, occurred_at="2024-01-15T14:30:00"), "occurred_at"),
    ("no recipient", _without(FILE, "user_id"), "user_id"),
    ("two recipients", _with(FILE, email="a@example.com"), "user_id"),
    ("bad email", _with(_without(FILE, "user_id"), email="not-an-email"), "email"),
    ("missing data", _without(FILE, "data"), "data"),
    ("data not an object", _with(FILE, data="x"), "data"),
    ("missing file_id", _without(FILE, "data", "file_id"), "data.file_id"),
    ("file_id with a slash", event("evt-1", file_id="a/b"), "data.file_id"),
    ("missing file_name", _without(FILE, "data", "file_name"), "data.file_name"),
    ("eta_set without eta", event("evt-1", "file.eta_set"), "data.eta"),
    ("comment_added without comment", event("evt-1", "file.comment_added"), "data.comment"),
    ("missing order_number", _without(event("evt-1", "order.paid"), "data", "order_number"), "data.order_number"),
    ("missing order_id", _without(event("evt-1", "order.paid"), "data", "order_id"), "data.order_id"),
    ("negative total", event("evt-1", "order.paid", total=-1), "data.total"),
    ("bad currency", event("evt-1", "order.paid", currency="euro"), "data.currency"),
    ("tracking_url not http", event("evt-1", "order.shipped", tracking_url="javascript:alert(1)"), "data.tracking_url"),
    ("payment without amount", _without(event("evt-1", "payment.received"), "data", "amount"), "data.amount"),
    ("amount not a number", event("evt-1", "payment.received", amount="lots"), "data.amount"),
    ("message without text", _without(event("evt-1", "message"), "data", "text"), "data.text"),
    ("message too long", event("evt-1", "message", text="x" * 3501), "data.text"),
    (
        "second event broken",
        {"events": [FILE, _without(event("evt-2"), "data", "file_name")]},
        "events[1].data.file_name",
    ),
    # An event of a type the bot does not know still needs a well-formed envelope.
    ("unknown type without id", _without(UNKNOWN, "id"), "id"),
    ("unknown type without occurred_at", _without(UNKNOWN, "occurred_at"), "occurred_at"),
    ("unknown type without a zone", _with(UNKNOWN, occurred_at="2024-01-15T14:30:00"), "occurred_at"),
    ("unknown type without recipient", _without(UNKNOWN, "user_id"), "user_id"),
    ("unknown type with two recipients", _with(UNKNOWN, email="a@example.com"), "user_id"),
    ("unknown type without data", _without(UNKNOWN, "data"), "data"),
    ("unknown type with data not an object", _with(UNKNOWN, data=[1]), "data"),
    ("unknown type in a batch without id", {"events": [FILE, _without(UNKNOWN, "id")]}, "events[1].id"),
    ("101 events of unknown types", {"events": [_with(UNKNOWN, id=f"u{i}") for i in range(101)]}, "events"),
]


def test_each_malformed_body_is_400_naming_the_field_and_does_nothing(
    notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    """Every case over HTTP in one test (one server); test_notify_units checks the same cases one by one."""
    link_user("u1", 501)
    for name, body, field in MALFORMED:
        response = signed_post(notify_fn, body)
        assert response.status_code == 400, f"{name}: {response.status_code} {response.text}"
        answer = response.json()
        assert answer["field"] == field, f"{name}: {answer}"
        assert field is None or field in answer["error"], f"{name}: {answer}"
        assert answer["problems"][0] == {"field": field, "message": answer["error"].removeprefix(f"{field}: ")}
    assert telegram.calls == []
    assert list(get_db().collection(Collections.NOTIFICATIONS).stream()) == []


# ----- event types this bot does not know -----
def test_an_event_of_an_unknown_type_fails_alone_and_the_rest_of_the_batch_is_delivered(
    notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    link_user("u2", 502)
    bodies = [
        event("evt-1"),
        {**event("evt-new", user_id="u2"), "type": "file.deleted", "data": {"file_id": "f1", "anything": [1, {}]}},
        event("evt-2", "message", user_id="u2"),
    ]
    response = signed_post(notify_fn, {"events": bodies})
    assert response.status_code == 200, response.text
    assert response.json()["results"][1] == {"id": "evt-new", "status": "failed", "reason": "unknown_type"}
    assert [r["status"] for r in response.json()["results"]] == ["sent", "failed", "sent"]
    assert response.json()["counts"] == {"sent": 2, "failed": 1}
    assert len(telegram.sent_texts(501)) == 1
    assert len(telegram.sent_texts(502)) == 1
    assert ledger_doc("evt-new") is None  # not recorded: the CRM may send it again once the bot knows the type
    assert ledger_doc("evt-1") is not None


def test_an_unknown_type_is_not_recorded_so_its_id_can_be_sent_again_once_the_bot_knows_the_type(
    notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    unknown = {**event("evt-1"), "type": "file.archived"}
    refused = {"id": "evt-1", "status": "failed", "reason": "unknown_type"}
    for _ in range(2):  # a request of unknown types only is still a 200, and a repeat is answered the same
        assert results(signed_post(notify_fn, unknown)) == [refused]
    assert telegram.calls == []
    assert list(get_db().collection(Collections.NOTIFICATIONS).stream()) == []

    [upgraded] = results(signed_post(notify_fn, event("evt-1")))  # the same id, of a type the bot knows
    assert upgraded["status"] == "sent"
    # An id the ledger holds stays a duplicate whatever type it comes back with.
    [again] = results(signed_post(notify_fn, unknown))
    assert again == {"id": "evt-1", "status": "duplicate", "first_status": "sent"}
    entry = ledger_doc("evt-1")
    assert entry is not None
    assert (entry["event_type"], entry["duplicates"]) == ("file.received", 1)
    assert len(telegram.sent_texts(501)) == 1


def test_an_unknown_type_with_a_bad_signature_is_still_401(notify_fn: FunctionServer, telegram: FakeTelegram) -> None:
    response = signed_post(notify_fn, UNKNOWN, secret="another-secret")
    assert response.status_code == 401
    assert telegram.calls == []


# ----- idempotency -----
def test_repeated_event_is_a_duplicate_and_sends_nothing(notify_fn: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501)
    assert results(signed_post(notify_fn, event("evt-1")))[0]["status"] == "sent"
    again = results(signed_post(notify_fn, event("evt-1", file_name="changed.bin")))
    assert again == [{"id": "evt-1", "status": "duplicate", "first_status": "sent"}]
    twice_in_a_batch = results(signed_post(notify_fn, {"events": [event("evt-2"), event("evt-2")]}))
    assert sorted(r["status"] for r in twice_in_a_batch) == ["duplicate", "sent"]
    assert len(telegram.sent_texts(501)) == 2
    entry = ledger_doc("evt-1")
    assert entry is not None
    assert entry["duplicates"] == 1


# ----- Telegram failures -----
def test_429_waits_retry_after_then_sends(notify_fn: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501)
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    [result] = results(signed_post(notify_fn, event("evt-1")))
    assert result["status"] == "sent"
    first, second = telegram.calls_to("sendMessage")
    assert second.at - first.at >= 1.0
    entry = ledger_doc("evt-1")
    assert entry is not None
    assert entry["attempts"] == 2


def test_5xx_is_retried_with_backoff(notify_fn: FunctionServer, telegram: FakeTelegram) -> None:
    link_user("u1", 501)
    telegram.fail("sendMessage", 502, "Bad Gateway", times=2)
    [result] = results(signed_post(notify_fn, event("evt-1")))
    assert result["status"] == "sent"
    calls = telegram.calls_to("sendMessage")
    assert len(calls) == 3
    assert calls[1].at - calls[0].at >= 0.5
    assert calls[2].at - calls[1].at >= 1.0  # the back-off doubles
    entry = ledger_doc("evt-1")
    assert entry is not None
    assert entry["attempts"] == 3


def test_5xx_that_lasts_fails_with_the_error_after_bounded_retries(
    notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    telegram.fail("sendMessage", 500, "Internal Server Error", times=10)
    [result] = results(signed_post(notify_fn, event("evt-1")))
    assert result["status"] == "failed"
    assert "500 Internal Server Error" in result["reason"]
    assert len(telegram.calls_to("sendMessage")) == 3
    entry = ledger_doc("evt-1")
    assert entry is not None
    assert (entry["status"], entry["attempts"]) == ("failed", 3)
    assert "500" in entry["last_error"]


def _membership_update(user_id: int, status: str) -> dict[str, Any]:
    bot = {"id": 123456, "is_bot": True, "first_name": "CRM Bot"}
    user = {"id": user_id, "is_bot": False, "first_name": "Pat"}
    return {
        "update_id": next_update_id(),
        "my_chat_member": {
            "chat": {"id": user_id, "type": "private"},
            "from": user,
            "date": 0,
            "old_chat_member": {"status": "member" if status == "kicked" else "kicked", "user": bot},
            "new_chat_member": {"status": status, "user": bot},
        },
    }


def test_403_blocked_marks_the_link_and_unblocking_restores_it(
    notify_fn: FunctionServer, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    telegram.block(501)
    [result] = results(signed_post(notify_fn, event("evt-1")))
    assert result["status"] == "blocked"
    link = links.get_link(501)
    assert link is not None
    assert link.blocked

    [second] = results(signed_post(notify_fn, event("evt-2")))
    assert second["status"] == "blocked"
    assert len(telegram.calls_to("sendMessage")) == 1  # nothing more was tried

    telegram.unblock(501)
    assert post_update(webhook, _membership_update(501, "member")).status_code == 200
    [third] = results(signed_post(notify_fn, event("evt-3")))
    assert third["status"] == "sent"


def test_my_chat_member_kicked_stops_notifications(
    notify_fn: FunctionServer, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501)
    assert post_update(webhook, _membership_update(501, "kicked")).status_code == 200
    [result] = results(signed_post(notify_fn, event("evt-1")))
    assert result == {"id": "evt-1", "status": "blocked", "reason": "the user has blocked the bot"}
    assert telegram.calls_to("sendMessage") == []


# ----- who gets what -----
def test_muted_group_and_all_off_are_recorded_muted(
    crm_world: CrmWorld, notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501, notifications=NotificationPreferences(muted_groups=["orders"]), world=crm_world)
    link_user("u2", 502, notifications=NotificationPreferences(enabled=False), world=crm_world)
    listed = results(
        signed_post(
            notify_fn,
            {
                "events": [
                    event("evt-order", "order.shipped"),
                    event("evt-file", "file.ready"),
                    event("evt-off", "message", user_id="u2"),
                ]
            },
        )
    )
    assert [r["status"] for r in listed] == ["muted", "sent", "muted"]
    assert "orders" in listed[0]["reason"]
    assert len(telegram.sent_texts(501)) == 1
    assert telegram.sent_texts(502) == []
    entry = ledger_doc("evt-order")
    assert entry is not None
    assert (entry["status"], entry["attempts"], entry["telegram_user_id"]) == ("muted", 0, 501)


def test_not_linked_unknown_and_inactive_users_get_nothing(
    crm_world: CrmWorld, notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "unlinked", "unlinked@example.com", role="customer", customer_id="c9")
    link_user("gone", 503, is_active=False, world=crm_world)
    listed = results(
        signed_post(
            notify_fn,
            {
                "events": [
                    event("e1", user_id="unlinked"),
                    event("e2", user_id="nobody"),
                    {**event("e3", user_id=None), "email": "nobody@example.com"},
                    event("e4", user_id="gone"),
                ]
            },
        )
    )
    assert [r["status"] for r in listed] == ["not_linked"] * 4
    assert "has not linked" in listed[0]["reason"]
    assert "no CRM user has this user_id" in listed[1]["reason"]
    assert "no CRM user has this email" in listed[2]["reason"]
    assert "not active" in listed[3]["reason"]
    assert telegram.calls == []


def test_a_customer_only_hears_about_their_own_records(
    crm_world: CrmWorld, notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501, customer_id="c1", world=crm_world)
    link_user("staff", 601, role="employee", org_id="org-1", world=crm_world)
    crm_world.add_record("files", "f-mine", {"customer_id": "c1", "org_id": "org-1", "name": "mine.bin"})
    crm_world.add_record("files", "f-theirs", {"customer_id": "c2", "org_id": "org-1", "name": "x.bin"})
    crm_world.add_record("orders", "o-other-org", {"customer_id": "c1", "org_id": "org-2", "number": 7})
    before = crm_world.snapshot()

    listed = results(
        signed_post(
            notify_fn,
            {
                "events": [
                    event("e1", file_id="f-mine"),
                    event("e2", customer_id="c2"),
                    event("e3", file_id="f-theirs"),
                    event("e4", "order.paid", order_id="o-other-org"),
                    event("e5", user_id="staff", file_id="f-theirs"),
                    event("e6", "order.paid", user_id="staff", order_id="o-other-org"),
                ]
            },
        )
    )
    assert [r["status"] for r in listed] == ["sent", "failed", "failed", "failed", "sent", "failed"]
    assert "only gets notifications about their own records" in listed[1]["reason"]
    assert "another organisation" in listed[3]["reason"]
    assert len(telegram.sent_texts(501)) == 1
    assert len(telegram.sent_texts(601)) == 1
    assert crm_world.snapshot() == before  # notify reads the CRM, never writes it


# ----- batches and pacing -----
def test_batch_of_100_is_delivered_in_order_per_chat_and_paced(
    notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    chats = 34
    for n in range(chats):
        link_user(f"u{n}", 1000 + n)
    bodies = [event(f"evt-{i:03}", "message", user_id=f"u{i % chats}", text=f"message {i}") for i in range(100)]
    listed = results(signed_post(notify_fn, {"events": bodies}))
    assert [r["id"] for r in listed] == [b["id"] for b in bodies]
    assert all(r["status"] == "sent" for r in listed)
    assert response_counts(listed) == {"sent": 100}

    calls = telegram.calls_to("sendMessage")
    assert len(calls) == 100
    for n in range(chats):
        mine = [c for c in calls if c.params["chat_id"] == 1000 + n]
        numbers = [int(c.params["text"].split("message ")[1].split("\n")[0]) for c in mine]
        assert numbers == sorted(numbers) == [i for i in range(100) if i % chats == n]
        assert all(later.at - earlier.at >= 1.0 for earlier, later in zip(mine, mine[1:], strict=False))
    starts = sorted(c.at for c in calls)
    tolerance = 0.1  # arrivals at the fake lag the starts by scheduling noise; exact starts: test_notify_units
    shortest = min(starts[i + 30] - starts[i] for i in range(len(starts) - 30))
    assert shortest >= 1.0 - tolerance, f"31 messages arrived within {shortest:.3f} s"
    assert starts[-1] - starts[0] >= 99 / 30 - tolerance


def response_counts(listed: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in listed:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


# ----- the function's dependencies -----
def test_notify_does_not_import_the_gemini_sdk_the_chat_layer_or_the_markdown_parser() -> None:
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('notify_main', {str(ROOT / 'functions/notify/main.py')!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert callable(module.notify)\n"
        "unwanted = ('google.genai', 'shared.bot', 'shared.agent', 'markdown_it')\n"
        "loaded = [name for name in sys.modules if name.startswith(unwanted)]\n"
        "print(sorted(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
