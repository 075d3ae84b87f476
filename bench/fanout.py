"""Benchmark 4: N notification events through the notify function over HTTP (signed batches of up to 100, one
after another, as docs/notify.md advises) against a fake Bot API enforcing Telegram's broadcast limits.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests

from bench.bot_api import RateLimitedBotApi
from bench.serve import serve_in_process
from bench.stack import Stack
from shared import clock
from shared.notify.pacer import MESSAGES_PER_SECOND
from shared.notify.signature import sign
from tests.harness import ADMIN_TOKEN, NOTIFY_SECRET, serve_function

BATCH = 100
SEVERAL = 3
"""Events per chat for the chats that get more than one."""
FIRST_CHAT = 9_600_000
WARM_UP_CHAT = FIRST_CHAT - 1
MAX_REDRIVES = 5
REDRIVE_LIMIT = 500
"""The most events one admin re-drive takes (its MAX_LIMIT)."""
MARKER = re.compile(r"fanout-(\d+)\.bin")


@dataclass(frozen=True)
class Plan:
    """Which chat gets which events, in the order the CRM sends them."""

    events: list[dict[str, Any]]
    chat_of_event: dict[int, int]
    chats: int
    chats_with_several: int


def plan(count: int, seed: int = 4) -> Plan:
    """`count` events: most chats get one, count/15 chats get SEVERAL each; shuffled, so they span batches."""
    several = min(count // 15, count // SEVERAL)
    singles = count - several * SEVERAL
    owners = [FIRST_CHAT + index for index in range(singles)]
    for index in range(several):
        owners += [FIRST_CHAT + singles + index] * SEVERAL
    random.Random(seed).shuffle(owners)
    events, chat_of_event = [], {}
    for number, chat in enumerate(owners):
        chat_of_event[number] = chat
        events.append(
            {
                "id": f"fanout-{number}",
                "type": "file.received",
                "occurred_at": "2024-01-15T14:30:00Z",
                "user_id": f"fanout-user-{chat}",
                "data": {"file_id": f"file-{number}", "file_name": f"fanout-{number}.bin"},
            }
        )
    return Plan(events, chat_of_event, singles + several, several)


def link_recipients(chats: set[int]) -> None:
    """A linked customer (private chat id = Telegram user id) for each chat, written in batches."""
    from shared.roles import Role
    from shared.store.db import Collections, get_db
    from shared.store.links import Link

    db = get_db()
    batch = db.batch()
    pending = 0
    for chat in sorted(chats):
        user_id, customer_id = f"fanout-user-{chat}", f"fanout-customer-{chat}"
        email = f"{user_id}@bench.example"
        batch.set(
            db.collection("crm_users").document(user_id),
            {"email": email, "name": "Fan Out", "role": "customer", "org_id": "org-1", "customer_id": customer_id},
        )
        link = Link(
            telegram_user_id=chat,
            chat_id=chat,
            crm_user_id=user_id,
            role=Role.CUSTOMER,
            org_id="org-1",
            name="Fan Out",
            email=email,
            customer_id=customer_id,
            linked_at=clock.now(),
        )
        batch.set(db.collection(Collections.LINKS).document(str(chat)), link.model_dump(mode="python"))
        pending += 2
        if pending >= 400:
            batch.commit()
            batch, pending = db.batch(), 0
    if pending:
        batch.commit()


def _signed_post(url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps({"events": events}, separators=(",", ":")).encode()
    signature = sign(body, NOTIFY_SECRET, int(clock.now().timestamp()))
    response = requests.post(
        url + "/",
        data=body,
        headers={"X-Signature": signature, "Content-Type": "application/json"},
        timeout=120,
    )
    if response.status_code != 200:
        raise RuntimeError(f"notify answered {response.status_code}: {response.text[:500]}")
    answer: dict[str, Any] = response.json()
    return answer


def _batch_timing(
    limited: RateLimitedBotApi, started: float, ended: float, counts: dict[str, int], several: set[int]
) -> dict[str, Any]:
    """A request's time split: before its first message (claims, recipients), sending, after its last one; and how
    long the sending went on after the last message to a chat with one event (chats with `several` waiting 1 s).
    """
    sent = [delivery for delivery in limited.deliveries if started <= delivery.at <= ended]
    timing: dict[str, Any] = {"counts": counts, "seconds": round(ended - started, 2)}
    if sent:
        timing["before_first_send_s"] = round(sent[0].at - started, 2)
        timing["sending_s"] = round(sent[-1].at - sent[0].at, 2)
        timing["after_last_send_s"] = round(ended - sent[-1].at, 2)
        singles = [delivery.at for delivery in sent if delivery.chat_id not in several]
        timing["tail_of_several_event_chats_s"] = round(sent[-1].at - singles[-1], 2) if singles else None
    return timing


def _left_to_send() -> int:
    """Ledger entries a re-drive would take."""
    from shared.notify.ledger import DeliveryStatus, entries_with_status

    return len(entries_with_status([DeliveryStatus.PENDING, DeliveryStatus.FAILED], limit=1000))


def _ledger_statuses(count: int) -> Counter[str]:
    from shared.notify.ledger import get_entry

    return Counter(
        entry.status.value if entry is not None else "missing"
        for entry in (get_entry(f"fanout-{number}") for number in range(count))
    )


def run(stack: Stack, count: int, per_second: float | None = None) -> dict[str, Any]:
    """Send `count` events in batches, re-drive what is left, and check what reached which chat.

    Notify runs in a process of its own (as an instance would), so the fake's clock is not slowed by it.
    `per_second` is an experiment: notify's pacer at that rate instead of its own (MESSAGES_PER_SECOND).
    """
    limited = RateLimitedBotApi(token=stack.telegram.token)
    with contextlib.ExitStack() as cleanup:
        limited.start()
        cleanup.callback(stack.use)
        cleanup.callback(limited.stop)
        stack.use(limited)
        stack.reset()
        layout = plan(count)
        several = {chat for chat, n in Counter(layout.chat_of_event.values()).items() if n > 1}
        link_recipients({*layout.chat_of_event.values(), WARM_UP_CHAT})
        log_path = stack.workdir / f"notify-{per_second or MESSAGES_PER_SECOND:g}.log"
        notify = cleanup.enter_context(serve_in_process("notify", "notify", log_path, per_second))
        admin = serve_function("admin", "admin")
        cleanup.callback(admin.server.server_close)
        cleanup.callback(admin.server.shutdown)

        warm_up = {**layout.events[0], "id": "fanout-warm-up", "user_id": f"fanout-user-{WARM_UP_CHAT}"}
        _signed_post(notify.url, [warm_up])  # the instance's clients and channels, every code path once; not timed
        limited.reset()

        started = time.monotonic()
        batches: list[dict[str, Any]] = []
        for first in range(0, count, BATCH):
            batch_started = time.monotonic()
            answer = _signed_post(notify.url, layout.events[first : first + BATCH])
            batches.append(_batch_timing(limited, batch_started, time.monotonic(), answer["counts"], several))
        sent_by_batches = time.monotonic() - started

        redrives: list[dict[str, Any]] = []
        redriving = 0.0
        while _left_to_send() and len(redrives) < MAX_REDRIVES:
            redrive_started = time.monotonic()
            response = requests.post(
                admin.url + "/notifications/redrive",
                json={"statuses": ["pending", "failed"], "limit": REDRIVE_LIMIT},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=120,
            )
            if response.status_code != 200:
                raise RuntimeError(f"the re-drive answered {response.status_code}: {response.text[:500]}")
            redrives.append(
                _batch_timing(limited, redrive_started, time.monotonic(), response.json()["counts"], several)
            )
            redriving += time.monotonic() - redrive_started
        final = _ledger_statuses(count)

    report = _report(layout, limited, sent_by_batches, sent_by_batches + redriving, batches, redrives, final, count)
    return {"pacer_per_second": per_second or MESSAGES_PER_SECOND, **report}


def _report(
    layout: Plan,
    limited: RateLimitedBotApi,
    sent_by_batches: float,
    finished: float,
    batches: list[dict[str, Any]],
    redrives: list[dict[str, Any]],
    final: Counter[str],
    count: int,
) -> dict[str, Any]:
    deliveries = [(d.at, d.chat_id, _event_number(d.text)) for d in limited.deliveries]
    received = Counter((chat, number) for _, chat, number in deliveries)
    wrong_chat = sum(1 for _, chat, number in deliveries if layout.chat_of_event.get(number) != chat)
    order_breaks = 0
    last_seen: dict[int, int] = {}
    for _, chat, number in sorted(deliveries):
        if number < last_seen.get(chat, -1):
            order_breaks += 1
        last_seen[chat] = max(number, last_seen.get(chat, -1))
    window = deliveries[-1][0] - deliveries[0][0] if len(deliveries) > 1 else 0.0
    limit_seconds = count / limited.per_second
    return {
        "events": count,
        "chats": layout.chats,
        "chats_with_several_events": layout.chats_with_several,
        "batches": batches,
        "limit_seconds": round(limit_seconds, 2),
        "wall_seconds": round(finished, 2),
        "wall_seconds_batches_only": round(sent_by_batches, 2),
        "wall_vs_limit": round(finished / limit_seconds, 3),
        "target": "<= 1.15",
        "verdict": "PASS" if finished / limit_seconds <= 1.15 else "MISS",
        "sending_window_seconds": round(window, 2),
        "messages_per_second_in_window": round(len(deliveries) / window, 1) if window else None,
        "too_many_requests_429": sum(limited.flood_errors.values()),
        "too_many_requests_by_limit": dict(limited.flood_errors),
        "redrives": redrives,
        "ledger": dict(final),
        "lost": count - final.get("sent", 0),
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "wrong_chat": wrong_chat,
        "order_breaks": order_breaks,
    }


def _event_number(text: str) -> int:
    found = MARKER.search(text)
    return int(found.group(1)) if found else -1
