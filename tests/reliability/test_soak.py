"""A soak: 2,000 mixed updates through the webhook over HTTP, and the server's memory at the start and the end.

The webhook runs in its own process (served by functions-framework's app, as in the other tests), so its memory is
its own: RSS from /proc, and Python's allocated blocks and gc-tracked objects, after a warm-up of 200 updates so
the growth is what the 2,000 left behind. SOAK_TRACEMALLOC=1 also traces the heap and prints where it grew
(three times slower). The updates: guests' commands and chatter, logins (right and wrong
passwords), linked users' commands, button taps and assistant questions, group messages, and re-deliveries.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from tests.chat import callback_update, message_update
from tests.crm_data import add_crm_user
from tests.fakes.gemini_api import FakeGemini, text
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import ROOT, WEBHOOK_SECRET
from tests.reliability.conftest import count_documents
from tests.test_notify import link_user

pytestmark = pytest.mark.emulator

UPDATES = 2_000
WARM_UP = 200
CLIENTS = 8
RSS_GROWTH_LIMIT_MB = 30
"""Generous on purpose: RSS also moves with the allocator (glibc keeps freed arenas, and the threaded server's
request threads get their own), so a few MB either way is noise, and Cloud Functions gives the webhook 512 MB.
A leak of per-update state shows first in the exact counts below."""
OBJECT_GROWTH_LIMIT = 4_000
"""Python memory blocks and gc-tracked objects may grow by this much over 2,000 updates (caches and pools filling;
about a thousand blocks in practice): two objects leaked by every update would pass it."""

SERVER = """
import gc, json, logging, os, sys, threading, tracemalloc
from tests.harness import serve_function

logging.getLogger("werkzeug").setLevel(logging.WARNING)
served = serve_function("webhook", "telegram_webhook")
print(json.dumps({"url": served.url}), flush=True)
trace = os.environ.get("SOAK_TRACEMALLOC") == "1"

def rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

for command in sys.stdin:
    command = command.strip()
    gc.collect()
    if command == "start" and trace:
        tracemalloc.start(5)
        baseline = tracemalloc.take_snapshot()
    report = {
        "rss_kb": rss_kb(),
        "blocks": sys.getallocatedblocks(),
        "objects": len(gc.get_objects()),
        "threads": threading.active_count(),
    }
    if command == "end" and trace:
        growth = tracemalloc.take_snapshot().compare_to(baseline, "traceback")
        report["top"] = [f"{stat.size_diff / 1024:+.1f} KiB {stat.traceback}" for stat in growth[:5]]
    print(json.dumps(report), flush=True)
"""


@dataclass
class WebhookProcess:
    """The webhook served by a child Python process, which reports its memory when asked."""

    process: subprocess.Popen[str]
    url: str

    def memory(self, command: str) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(command + "\n")
        stdin.flush()
        report: dict[str, Any] = json.loads(stdout.readline())
        return report


@pytest.fixture
def webhook_process(env: dict[str, str], tmp_path: Path) -> Iterator[WebhookProcess]:
    log: IO[str] = (tmp_path / "webhook.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    started = json.loads(process.stdout.readline())
    yield WebhookProcess(process, started["url"])
    process.terminate()
    process.wait(timeout=10)
    log.seek(0)
    errors = log.read()
    log.close()
    assert "Traceback" not in errors, errors[-3000:]
    assert "Exception on" not in errors, errors[-3000:]


Sequence = list[dict[str, Any]]
"""Updates sent one after the other (a login's steps); sequences are sent side by side."""


@dataclass
class Batch:
    sequences: list[Sequence]
    logins: list[Sequence]
    """Sent one login at a time beside the rest: the emulator's transaction locks are coarser than Firestore's,
    and two logins at once can deadlock it until a transaction gives up (see test_concurrency.py)."""

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [update for sequence in self.sequences + self.logins for update in sequence]


class Traffic:
    """A stream of mixed updates, a tenth of them delivered twice."""

    def __init__(self, rng: random.Random, linked: list[int]) -> None:
        self._rng = rng
        self._linked = linked
        self._logins = 0

    def batch(self, size: int) -> Batch:
        """`size` distinct updates, and re-deliveries of a tenth of them."""
        batch = Batch([], [])
        count = 0
        while count < size:
            sequence = self._next()
            (batch.logins if len(sequence) > 1 else batch.sequences).append(sequence)
            count += len(sequence)
        for sequence in self._rng.sample(batch.sequences + batch.logins, count // 10):
            batch.sequences.append([self._rng.choice(sequence)])  # Telegram delivers it again
        self._rng.shuffle(batch.sequences)
        return batch

    def _next(self) -> list[dict[str, Any]]:
        rng, kind = self._rng, self._rng.choices(["guest", "linked", "login", "group"], [30, 50, 8, 12])[0]
        if kind == "guest":
            user = rng.randrange(900_000, 900_400)
            chosen = rng.choice(["/help", "/start", "/frobnicate", "hello there", "/cancel", None])
            if chosen is None:
                return [message_update(user, None, sticker={"file_id": "x", "file_unique_id": "y", "type": "regular"})]
            return [message_update(user, chosen)]
        if kind == "group":
            return [
                message_update(
                    rng.randrange(900_000, 900_400), "/start", chat_id=-rng.randrange(1, 50), chat_type="group"
                )
            ]
        if kind == "login":
            self._logins += 1
            user = 950_000 + self._logins
            password = "correct horse" if rng.random() < 0.7 else "wrong password"
            return [
                message_update(user, "/start"),
                message_update(user, "soak@example.com"),
                message_update(user, password),
            ]
        user = rng.choice(self._linked)
        action = rng.choices(["command", "tap", "assistant"], [60, 15, 25])[0]
        if action == "tap":
            return [callback_update(user, rng.choice(["notif:files:off", "notif:files:on", "crmmore:o:x", "zz"]))]
        if action == "assistant":
            return [message_update(user, f"How are my deals, question {rng.randrange(10**6)}?")]
        return [message_update(user, rng.choice(["/me", "/help", "/orders", "/files", "/notifications", "/start"]))]


class Client:
    """Sends sequences of updates over HTTP from several threads, keeping sessions alive like Telegram does."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._local = threading.local()
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()

    def send(self, sequence: list[dict[str, Any]]) -> None:
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        for update in sequence:
            response = session.post(
                self._url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}, timeout=60
            )
            with self._lock:
                self.statuses[response.status_code] += 1

    def send_one_after_another(self, sequences: list[Sequence]) -> None:
        for sequence in sequences:
            self.send(sequence)

    def run(self, batch: Batch) -> float:
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            logins = pool.submit(self.send_one_after_another, batch.logins)
            for future in [pool.submit(self.send, sequence) for sequence in batch.sequences]:
                future.result()
            logins.result()
        return time.monotonic() - started


def test_2000_mixed_updates_leave_the_webhook_no_bigger(
    webhook_process: WebhookProcess, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    linked = list(range(960_000, 960_030))
    for index, user in enumerate(linked):
        link_user(f"soak-{index}", user, role=["vendor", "employee", "customer"][index % 3])
    add_crm_user("soak-guest", "soak@example.com")
    gemini.enqueue(*[text("Your deals are fine.")] * 3_000)
    traffic = Traffic(random.Random(2000), linked)
    client = Client(webhook_process.url)

    warm_up = traffic.batch(WARM_UP)
    client.run(warm_up)
    before = webhook_process.memory("start")
    stream = traffic.batch(UPDATES)
    posts = len(stream.updates)
    elapsed = client.run(stream)
    after = webhook_process.memory("end")

    rss_growth_mb = (after["rss_kb"] - before["rss_kb"]) / 1024
    blocks, objects = after["blocks"] - before["blocks"], after["objects"] - before["objects"]
    print(
        f"\nsoak: {posts} posts ({UPDATES} updates and their re-deliveries) from {CLIENTS} clients in {elapsed:.1f} s"
        f" ({posts / elapsed:.0f}/s)\n  RSS {before['rss_kb'] / 1024:.1f} MB -> {after['rss_kb'] / 1024:.1f} MB"
        f" ({rss_growth_mb:+.1f} MB); Python blocks {blocks:+d}, objects {objects:+d};"
        f" threads {before['threads']} -> {after['threads']}"
    )
    if "top" in after:
        print("  largest heap growth (tracemalloc):\n    " + "\n    ".join(after["top"]))
    assert client.statuses.keys() == {200}
    assert rss_growth_mb < RSS_GROWTH_LIMIT_MB
    assert blocks < OBJECT_GROWTH_LIMIT, "Python memory blocks keep piling up: run with SOAK_TRACEMALLOC=1 to see where"
    assert objects < OBJECT_GROWTH_LIMIT
    assert after["threads"] <= before["threads"] + CLIENTS, "request threads are not piling up"
    processed = count_documents("tg_processed_updates")
    distinct = {update["update_id"] for update in warm_up.updates + stream.updates}
    assert processed == len(distinct)
