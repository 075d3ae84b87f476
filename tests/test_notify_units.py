"""Notify's pure parts, without the emulator: signatures, event parsing, message templates, the pacer."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from typing import Any

import pytest

from shared.notify.events import (
    EVENT_TYPES,
    MAX_EVENTS,
    MalformedBodyError,
    PaymentEvent,
    UnknownEvent,
    parse_body,
    parse_event,
)
from shared.notify.ledger import DeliveryStatus
from shared.notify.pacer import Pacer
from shared.notify.sending import Outgoing, send_notification
from shared.notify.signature import SignatureError, sign, verify_signature
from shared.notify.templates import HEADINGS, render
from shared.telegram.client import TelegramClient
from tests.fakes.telegram_api import MAX_TEXT_UTF16, FakeTelegram, utf16_len, visible_text
from tests.harness import ROOT, VirtualClock
from tests.test_notify import MALFORMED, event

SECRET = "s3cret"
NOW = dt.datetime(2024, 1, 15, 14, 30, tzinfo=dt.UTC)
T = int(NOW.timestamp())


# ----- signatures -----
def test_a_signature_verifies_and_is_the_documented_hmac() -> None:
    body = b'{"id":"evt-1"}'
    header = sign(body, SECRET, T)
    # The example in docs/notify.md: HMAC-SHA256 of "<t>.<body>" in hex.
    assert header == f"t={T},v1=" + hmac.new(SECRET.encode(), f"{T}.".encode() + body, hashlib.sha256).hexdigest()
    verify_signature(header, body, SECRET, NOW)
    verify_signature(f" v1={header.split('v1=')[1]} , t={T} ", body, SECRET, NOW)  # order and spaces do not matter


@pytest.mark.parametrize(
    ("header", "now", "message"),
    [
        (None, NOW, "missing"),
        ("", NOW, "missing"),
        ("t=1,v1=" + "0" * 64 + "," * 2000, NOW, "too long"),
        (f"t={T}", NOW, "malformed"),
        (f"v1={'0' * 64}", NOW, "malformed"),
        (f"t=-{T},v1=00", NOW, "malformed"),
        (f"t={T}0000000,v1=00", NOW, "malformed"),
        ("t=\uff11\uff12\uff13,v1=00", NOW, "malformed"),  # full-width digits: str.isdigit() says yes
        ("t=253402300800,v1=00", NOW, "away from the server's time"),  # past year 9999: no datetime holds it
        ("t=999999999999,v1=00", NOW, "away from the server's time"),
        ("t=0,v1=00", NOW, "away from the server's time"),
        (sign(b"{}", SECRET, T), NOW + dt.timedelta(minutes=5, seconds=1), "away from the server's time"),
        (sign(b"{}", SECRET, T), NOW - dt.timedelta(minutes=5, seconds=1), "away from the server's time"),
        (sign(b"{}", "wrong", T), NOW, "does not match"),
        (sign(b"{} ", SECRET, T), NOW, "does not match"),
        (sign(b"{}", SECRET, T).replace(f"t={T}", f"t={T + 1}"), NOW, "does not match"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, now: dt.datetime, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_signature(header, b"{}", SECRET, now)


def test_exactly_five_minutes_off_is_still_accepted() -> None:
    verify_signature(sign(b"{}", SECRET, T), b"{}", SECRET, NOW + dt.timedelta(minutes=5))
    verify_signature(sign(b"{}", SECRET, T), b"{}", SECRET, NOW - dt.timedelta(minutes=5))


# ----- parsing -----
@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in MALFORMED], ids=[name for name, _, _ in MALFORMED])
def test_each_malformed_body_names_its_field(body: Any, field: str | None) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(MalformedBodyError) as caught:
        parse_body(raw)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"id": ' + b"9" * 5000 + b"}", b'{"events": NaN}', b"\x00"],
    ids=["deep nesting", "huge integer", "NaN", "NUL"],
)
def test_hostile_bodies_are_malformed_not_crashes(raw: bytes) -> None:
    with pytest.raises(MalformedBodyError):
        parse_body(raw)


def test_odd_values_are_refused_by_field() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"total": 1e400}, "data.total"),
        ({"total": "NaN"}, "data.total"),
        ({"currency": 1}, "data.currency"),
    ]
    for data, field in cases:
        body = {**event("e1", "order.paid"), "data": {"order_id": "o1", "order_number": "1", **data}}
        with pytest.raises(MalformedBodyError) as caught:
            parse_body(json.dumps(body).encode())
        assert caught.value.field == field


def test_all_problems_of_a_batch_are_reported() -> None:
    unknown_without_id = {key: value for key, value in event("d").items() if key != "id"} | {"type": "nope"}
    bad = {"events": [event("a", file_name=""), event("b"), {**event("c"), "type": 7}, unknown_without_id]}
    with pytest.raises(MalformedBodyError) as caught:
        parse_body(json.dumps(bad).encode())
    assert [p.field for p in caught.value.problems] == ["events[0].data.file_name", "events[2].type", "events[3].id"]


def test_an_unknown_type_parses_as_an_unknown_event_whose_envelope_is_checked_and_data_ignored() -> None:
    newer = {**event(" 7 ", "message", user_id=None), "email": "Pat@Example.com", "type": "invoice.created"}
    newer["data"] = {"invoice": {"lines": [1, 2]}, "text": 5}  # whatever the new type carries
    first, second = parse_body(json.dumps({"events": [newer, event("e2")]}).encode())
    assert isinstance(first, UnknownEvent)
    assert (first.id, first.type, first.recipient) == ("7", "invoice.created", {"email": "pat@example.com"})
    assert not isinstance(second, UnknownEvent)
    # A known type never falls back to the envelope: its data must be right.
    with pytest.raises(MalformedBodyError) as caught:
        parse_body(json.dumps({**event("e3", "message"), "data": {"invoice": 1}}).encode())
    assert caught.value.field == "data.text"


def test_parsing_normalises_and_ignores_what_it_does_not_use() -> None:
    body = {
        **event("42", "payment.received", user_id=None, amount="12.5", currency="eur", order_number=1042, note="x"),
        "email": " Pat@Example.COM ",
        "source": "crm-v2",
        "id": 42,
    }
    [payment] = parse_body(json.dumps(body).encode())
    assert isinstance(payment, PaymentEvent)
    assert payment.id == "42"
    assert payment.recipient == {"email": "pat@example.com"}
    assert (payment.data.order_number, payment.data.currency, str(payment.data.amount)) == ("1042", "EUR", "12.5")
    assert payment.group == "payments"
    assert len(parse_body(json.dumps({"events": [event(f"e{i}") for i in range(MAX_EVENTS)]}).encode())) == MAX_EVENTS


# ----- templates -----
TEXT_FIELDS = {"file_name", "message", "eta", "comment", "order_number", "text"}


def _longest(event_type: str, wide: bool) -> dict[str, Any]:
    """An event of this type with every text field at its maximum length and full of characters to escape,
    or (wide) of emoji, which Telegram counts as two characters each."""
    data: dict[str, Any] = {
        "file": {"file_name": "<&>" * 85, "message": "<&" * 500, "eta": "<" * 100, "comment": "&" * 1000},
        "order": {"order_number": "<" * 64, "total": "9" * 18, "tracking_url": "https://t.example/" + "a&" * 990},
        "payment": {"order_number": "&" * 64, "amount": "9" * 18},
        "message": {"text": "<b>" * 1166},
    }[event_type.split(".")[0]]
    if wide:
        data = {name: "🚗" * len(value) if name in TEXT_FIELDS else value for name, value in data.items()}
    return event("e1", event_type, **data)


@pytest.mark.parametrize("wide", [False, True], ids=["escapes", "emoji"])
@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_type_renders_valid_telegram_html_within_the_limit(event_type: str, wide: bool) -> None:
    parsed = parse_event(_longest(event_type, wide))
    html = render(parsed, "https://crm.example.com/?a=1&b=2", "Europe/Berlin")
    shown, error = visible_text(html, "HTML")
    assert error is None
    assert utf16_len(shown) <= MAX_TEXT_UTF16
    heading = HEADINGS[event_type]
    assert shown.startswith(f"{heading.emoji} {heading.title}")
    assert 'href="https://crm.example.com/?a=1&amp;b=2"' in html
    assert shown.endswith("🕐 Updated: 2024-01-15 15:30 CET")


def test_an_unknown_time_zone_falls_back_to_utc() -> None:
    parsed = parse_event(event("e1"))
    assert render(parsed, "https://x.example", "Not/AZone").endswith("2024-01-15 14:30 UTC")


# ----- the pacer, on a virtual clock -----
def test_the_pacer_spaces_sends_overall_and_per_chat() -> None:
    clock = VirtualClock()
    pacer = Pacer(per_second=10, per_chat_interval=1.0, monotonic=clock.monotonic, sleep=clock.sleep)
    starts = []
    for chat in (1, 2, 3):
        assert pacer.acquire(chat, deadline=100)
        starts.append(clock.now)
        pacer.sent(chat)
    assert starts == pytest.approx([0.0, 0.1, 0.2])
    assert pacer.ready_at(1) == pytest.approx(1.0)
    assert pacer.acquire(1, deadline=100)
    assert clock.now == pytest.approx(1.0)  # chat 1's last message arrived at 0.0


def test_the_pacer_never_lets_more_than_the_rate_start_in_any_second() -> None:
    clock = VirtualClock()
    pacer = Pacer(per_second=30, monotonic=clock.monotonic, sleep=clock.sleep)
    starts = []
    for n in range(100):
        clock.now += 0.004 * (n % 7 == 0)  # threads arriving a little late now and then
        assert pacer.acquire(n, deadline=100)
        starts.append(clock.now)
    assert all(b - a >= 1 / 30 - 1e-9 for a, b in zip(starts, starts[1:], strict=False))
    assert all(starts[i + 30] - starts[i] >= 1.0 - 1e-9 for i in range(len(starts) - 30))


def test_the_pacer_obeys_pauses_and_holds_and_stops_at_the_deadline() -> None:
    clock = VirtualClock()
    pacer = Pacer(per_second=30, monotonic=clock.monotonic, sleep=clock.sleep)
    pacer.pause(2.0)
    assert pacer.ready_at(1) == pytest.approx(2.0)
    assert pacer.acquire(1, deadline=5)
    assert clock.now == pytest.approx(2.0)
    pacer.hold_chat(1, 4.0)
    assert not pacer.acquire(1, deadline=5)  # 6.0 is past the deadline: refused at once, without waiting
    assert clock.now == pytest.approx(2.0)
    assert pacer.acquire(2, deadline=5)


def test_a_chat_is_held_from_the_start_of_its_message_so_another_request_cannot_send_to_it_meanwhile() -> None:
    clock = VirtualClock()
    pacer = Pacer(per_second=30, per_chat_interval=1.0, monotonic=clock.monotonic, sleep=clock.sleep)
    assert pacer.acquire(1, deadline=100)  # one request's message is on its way to chat 1...
    assert pacer.ready_at(1) == pytest.approx(1.0)
    clock.now = 0.3
    assert pacer.acquire(1, deadline=100)  # ...so another request's message to chat 1 waits
    assert clock.now == pytest.approx(1.0)
    pacer.hold_chat(1, 0.2)  # that one failed: a short back-off replaces the hold
    assert pacer.ready_at(1) == pytest.approx(1.2)


def test_the_pacer_forgets_chats_whose_spacing_ran_out_once_it_remembers_many() -> None:
    clock = VirtualClock()
    pacer = Pacer(per_second=1000, per_chat_interval=1.0, monotonic=clock.monotonic, sleep=clock.sleep)
    for chat in range(10_000):
        pacer.sent(chat)
    clock.now = 5.0
    pacer.sent(-1)  # the 10,001st chat: every earlier one can take a message again, so they are forgotten
    assert pacer.ready_at(0) == 0.0
    assert pacer.ready_at(-1) == pytest.approx(6.0)
    assert len(pacer._chat_ready) == 1


# ----- sending one notification, on a virtual clock -----
def test_a_notification_telegram_cannot_parse_goes_as_plain_text_with_all_its_attempts(telegram: FakeTelegram) -> None:
    clock = VirtualClock()
    pacer = Pacer(per_second=1000, monotonic=clock.monotonic, sleep=clock.sleep)
    telegram.fail("sendMessage", 400, "Bad Request: can't parse entities: unexpected end tag")
    telegram.fail("sendMessage", 502, "Bad Gateway", times=2)
    client = TelegramClient(telegram.token, telegram.base_url)

    outcome = send_notification(client, Outgoing("e1", 42, "<b>Paid</b> &amp; done"), pacer, deadline=100)

    assert (outcome.status, outcome.attempts) == (DeliveryStatus.SENT, 4)  # the parse error used no attempt
    html, *plain = telegram.calls_to("sendMessage")
    assert html.params["parse_mode"] == "HTML"
    assert [(call.params.get("parse_mode"), call.params["text"]) for call in plain] == [(None, "Paid & done")] * 3


# ----- the documentation the CRM's developers code to -----
DOCS = ROOT / "docs"


def test_the_documented_examples_parse_and_the_worked_signature_is_right() -> None:
    guide = (DOCS / "notify.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", guide, re.DOTALL)
    requests = [block for block in blocks if '"results"' not in block]
    assert len(requests) == 2
    for block in requests:
        assert parse_body(block.encode())
    worked = requests[0].strip().encode()
    header = re.search(r"X-Signature: (t=1705329000,v1=[0-9a-f]{64})", guide)
    assert header is not None
    assert header.group(1) == sign(worked, "example-secret", 1705329000)
    assert header.group(1) in (DOCS / "openapi.yaml").read_text()


def test_the_docs_name_every_event_type_and_status() -> None:
    for name in ("notify.md", "openapi.yaml"):
        text = (DOCS / name).read_text()
        missing = [word for word in (*EVENT_TYPES, *(status.value for status in DeliveryStatus)) if word not in text]
        assert missing == [], f"docs/{name} does not mention {missing}"
