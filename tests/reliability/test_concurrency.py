"""Duplicates and concurrency: 200 updates, 50 of them delivered twice, sent to the webhook over HTTP 16 at a time.

Telegram re-delivers an update when it did not get our answer in time, and sends a user's updates on several
connections at once; each update must still be answered exactly once and the login state must stay whole.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.bot import texts
from shared.store import history
from shared.store.db import get_db
from shared.store.login_state import FailureCounter, LoginFlow
from tests.chat import callback_update, message_update, next_update_id, post_update
from tests.crm_data import add_crm_user
from tests.fakes.gemini_api import FakeGemini, Reply, text
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import FunctionServer
from tests.reliability.conftest import FirestoreFaults, ServerLog, writes_to
from tests.test_notify import link_user

pytestmark = pytest.mark.emulator

IN_FLIGHT = 16
PASSWORD = "correct horse"  # tests.crm_data's default
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "CRM Bot"}
STICKER = {"file_id": "x", "file_unique_id": "y", "type": "regular"}


def edited_update(user_id: int, text: str) -> dict[str, Any]:
    return {"update_id": next_update_id(), "edited_message": message_update(user_id, text)["message"]}


def membership_update(user_id: int, status: str) -> dict[str, Any]:
    """`my_chat_member`: the user blocked ('kicked') or unblocked ('member') the bot in their private chat."""
    user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
    return {
        "update_id": next_update_id(),
        "my_chat_member": {
            "chat": {"id": user_id, "type": "private"},
            "from": user,
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": BOT_USER},
            "new_chat_member": {"status": status, "user": BOT_USER},
        },
    }


class Sender:
    """Posts updates to the webhook from many threads, never more than `limit` at once, and keeps every answer."""

    def __init__(self, webhook: FunctionServer, limit: int = IN_FLIGHT) -> None:
        self._webhook = webhook
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0
        self.statuses: Counter[int] = Counter()
        self.answers: dict[int, list[dict[str, Any]]] = defaultdict(list)

    def post(self, update: dict[str, Any]) -> None:
        with self._slots:
            with self._lock:
                self._in_flight += 1
                self.peak = max(self.peak, self._in_flight)
            try:
                response = post_update(self._webhook, update)
            finally:
                with self._lock:
                    self._in_flight -= 1
        with self._lock:
            self.statuses[response.status_code] += 1
            self.answers[update["update_id"]].append(response.json() if response.status_code == 200 else {})

    def post_at_once(self, updates: list[dict[str, Any]]) -> None:
        """Post these updates at the same moment, each from its own thread."""
        start = threading.Barrier(len(updates))

        def post(update: dict[str, Any]) -> None:
            start.wait(timeout=30)
            self.post(update)

        with ThreadPoolExecutor(len(updates)) as pool:
            for future in [pool.submit(post, update) for update in updates]:
                future.result()


@dataclass
class Traffic:
    """The run's updates, how many messages each chat must get for them, and the jobs that send them."""

    sender: Sender
    telegram: FakeTelegram
    jobs: list[Callable[[], None]] = field(default_factory=list)
    distinct: dict[int, dict[str, Any]] = field(default_factory=dict)
    replies: Counter[int] = field(default_factory=Counter)
    repeats: int = 0
    retried: int = 0
    """Passwords sent again because the emulator gave up on a contended transaction (see the test)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def expect(self, update: dict[str, Any], chat_id: int | None, replies: int = 1) -> None:
        self.distinct[update["update_id"]] = update
        if chat_id is not None and replies:
            self.replies[chat_id] += replies

    def single(self, update: dict[str, Any], chat_id: int | None, replies: int = 1, repeat: bool = False) -> None:
        """An update sent on its own (and once more, as a re-delivery, when `repeat`)."""
        self.expect(update, chat_id, replies)
        self.jobs.append(lambda: self.sender.post(update))
        if repeat:
            self.jobs.append(lambda: self.sender.post(update))
            self.repeats += 1

    def login(
        self,
        user_id: int,
        steps: list[str],
        in_step_with: threading.Barrier,
        repeat_step: int | None,
        after: threading.Event | None = None,
        then: threading.Event | None = None,
    ) -> None:
        """One user's login, step by step, each step taken together with the other user of `in_step_with` (and
        not before `after` is set; `then` is set when done). A password the bot could not check is sent again."""
        updates = [message_update(user_id, step) for step in steps]
        for update in updates:
            self.expect(update, user_id)
        self.repeats += repeat_step is not None

        def run() -> None:
            if after is not None:
                assert after.wait(timeout=60)
            for index, update in enumerate(updates):
                in_step_with.wait(timeout=60)
                if index == repeat_step:
                    self.sender.post_at_once([update, update])
                else:
                    self.sender.post(update)
                if steps[index] == PASSWORD:
                    self._until_checked(user_id)
            if then is not None:
                then.set()

        self.jobs.append(run)

    def _until_checked(self, user_id: int) -> None:
        """Like a user told "something went wrong", send the password again (at most three times)."""
        for _ in range(3):
            if self.telegram.last_text(user_id) != texts.SOMETHING_WENT_WRONG:
                return
            again = message_update(user_id, PASSWORD)
            with self._lock:
                self.expect(again, user_id)
                self.retried += 1
            self.sender.post(again)

    def burst(self, user_id: int, texts: list[str], repeated: list[int]) -> None:
        """One user sends several messages at the same moment (some of them delivered twice, also at once)."""
        updates = [message_update(user_id, text) for text in texts]
        for update in updates:
            self.expect(update, user_id)
        self.repeats += len(repeated)
        together = updates + [updates[index] for index in repeated]
        self.jobs.append(lambda: self.sender.post_at_once(together))


def email_counter_id(email: str) -> str:
    return "email-" + hashlib.sha256(email.encode()).hexdigest()


def documents(collection: str) -> dict[str, dict[str, Any]]:
    return {snapshot.id: snapshot.to_dict() or {} for snapshot in get_db().collection(collection).stream()}


GUEST_MESSAGES: list[Callable[[int], dict[str, Any]]] = [
    lambda user: message_update(user, "/help"),
    lambda user: message_update(user, "/frobnicate"),
    lambda user: message_update(user, "hello there"),
    lambda user: message_update(user, None, sticker=STICKER),
    lambda user: edited_update(user, "an edit"),
    lambda user: message_update(user, "/cancel"),
]
LINKED_COMMANDS = ["/me", "/help", "/start", "/orders", "/files", "/notifications", "/deals", "/frobnicate"]


def test_200_updates_with_50_repeats_16_at_a_time_are_each_answered_once(
    webhook: FunctionServer, telegram: FakeTelegram, server_log: ServerLog
) -> None:
    rng = random.Random(8)
    sender = Sender(webhook)
    traffic = Traffic(sender, telegram)

    guests = range(710_000, 710_060)
    for index, user in enumerate(guests):
        traffic.single(GUEST_MESSAGES[index % len(GUEST_MESSAGES)](user), user, repeat=index % 3 == 0)  # 20 repeats
    groups = [-710_001, -710_002, -710_003, -710_004]
    for index in range(20):
        group = groups[index % len(groups)]
        update = message_update(715_000 + index, ["/start", "/me", "hi"][index % 3], chat_id=group, chat_type="group")
        traffic.single(update, None, repeat=index % 4 == 0)  # 5 repeats
    traffic.replies.update({group: 1 for group in groups})  # the private-only notice, once per group

    linked = [720_000 + index for index in range(11)]
    for index, user in enumerate(linked):
        link_user(f"k{index}", user, role="vendor" if index % 2 else "customer")
        for number, command in enumerate(LINKED_COMMANDS):
            traffic.single(message_update(user, command), user, repeat=number == 0 and index < 9)  # 9 repeats
    for user in linked[:5]:
        traffic.single(callback_update(user, "notif:files:off"), None, repeat=True)  # 5 repeats
    for user in list(guests)[:5]:
        traffic.single(callback_update(user, "zz:stale"), None, repeat=user % 2 == 0)  # 3 repeats
    for user in linked[9:]:
        traffic.single(membership_update(user, "kicked"), None, replies=0, repeat=True)  # 2 repeats

    add_crm_user("crm-a", "a@rel.example")
    add_crm_user("crm-b", "b@rel.example")
    add_crm_user("crm-shared", "shared@rel.example")
    add_crm_user("crm-c", "c@rel.example")
    # Two pairs of users log in at once, one pair to two accounts and one pair to the same account. The pairs take
    # turns: the emulator's transaction locks are coarser than Firestore's (a query in a transaction locks the whole
    # collection; firebase-tools#6758, #8105), so four logins at once deadlock it until their transactions give up.
    # Even a pair sometimes hits its lock timeout: the user gets "something went wrong", the flow is untouched,
    # and they send the password again (Traffic._until_checked).
    two_accounts, one_account, alone = threading.Barrier(2), threading.Barrier(2), threading.Barrier(1)
    first_pair_done = [threading.Event(), threading.Event()]
    a, b, shared = "a@rel.example", "b@rel.example", "shared@rel.example"
    traffic.login(730_001, ["/start", a, PASSWORD], two_accounts, repeat_step=1, then=first_pair_done[0])
    traffic.login(730_002, ["/start", b, PASSWORD], two_accounts, repeat_step=2, then=first_pair_done[1])
    traffic.login(730_003, ["/start", shared, PASSWORD], one_account, repeat_step=2, after=first_pair_done[0])
    traffic.login(730_004, ["/start", shared, PASSWORD], one_account, repeat_step=0, after=first_pair_done[1])
    traffic.login(730_005, ["/login c@rel.example", "wrong-1", "wrong-2"], alone, repeat_step=None)

    link_user("burst", 740_001, role="vendor")
    traffic.burst(740_001, ["/me", "/help", "/orders", "/notifications", "/files"], repeated=[0, 2])  # 2 repeats

    assert (len(traffic.distinct), traffic.repeats) == (200, 50)
    posts = len(traffic.distinct) + traffic.repeats
    rng.shuffle(traffic.jobs)
    started = time.monotonic()
    with ThreadPoolExecutor(IN_FLIGHT + 8) as pool:  # more workers than slots: login steps wait for each other
        for future in [pool.submit(job) for job in traffic.jobs]:
            future.result()
    elapsed = time.monotonic() - started
    print(f"\n{posts} posts (200 updates + 50 repeats), {IN_FLIGHT} in flight: {elapsed:.1f} s", end="")
    print(f"; {traffic.retried} password(s) sent again after a transaction lock timeout")

    # Every post answered 200 with real concurrency; each update handled once, its repeats answered `duplicate`.
    assert sender.statuses == {200: posts + traffic.retried}
    assert sender.peak == IN_FLIGHT
    for update_id, answers in sender.answers.items():
        assert [answer.get("duplicate", False) for answer in answers].count(False) == 1, (update_id, answers)
        assert all(answer.get("ok") or answer.get("method") == "sendMessage" for answer in answers), answers
    assert set(sender.answers) == set(traffic.distinct)
    assert len(documents("tg_processed_updates")) == len(traffic.distinct)

    # Exactly the expected messages per chat: one per update, none for a repeat, one notice per group.
    sent = Counter(call.params["chat_id"] for call in telegram.calls_to("sendMessage"))
    assert sent == +traffic.replies
    answered = Counter(call.params["callback_query_id"] for call in telegram.calls_to("answerCallbackQuery"))
    callback_ids = {u["callback_query"]["id"] for u in traffic.distinct.values() if "callback_query" in u}
    assert answered == dict.fromkeys(callback_ids, 1)

    # Login state: each password message deleted once, both accounts linked, the shared one linked exactly once.
    password_messages = {
        (u["message"]["chat"]["id"], u["message"]["message_id"])
        for u in traffic.distinct.values()
        if u.get("message", {}).get("text") in (PASSWORD, "wrong-1", "wrong-2")
    }
    deletions = [(c.params["chat_id"], c.params["message_id"]) for c in telegram.calls_to("deleteMessage")]
    assert sorted(deletions) == sorted(password_messages)
    links = documents("tg_links")
    assert links["730001"]["crm_user_id"] == "crm-a"
    assert links["730002"]["crm_user_id"] == "crm-b"
    assert [doc["crm_user_id"] for doc in links.values()].count("crm-shared") == 1
    assert ("730003" in links) != ("730004" in links)
    assert {call.params["scope"]["chat_id"] for call in telegram.calls_to("setMyCommands")} >= {730_001, 730_002}

    flows = {user: LoginFlow.model_validate(doc) for user, doc in documents("tg_login_flows").items()}
    for finished in ("730001", "730002", "730003", "730004"):
        assert finished not in flows, f"a finished login left its flow behind: {flows.get(finished)}"
    assert (flows["730005"].step, flows["730005"].email) == ("password", "c@rel.example")
    for flow in flows.values():
        assert (flow.step == "password") == (flow.email is not None), flow

    counters = {key: FailureCounter.model_validate(doc) for key, doc in documents("tg_login_failures").items()}
    assert set(counters) == {"tg-730005", email_counter_id("c@rel.example")}
    for counter in counters.values():
        assert (counter.failures, counter.locked_until) == (2, None)
    events = Counter(doc["event"] for doc in documents("tg_audit").values())
    assert (events["linked"], events["unlinked"], events["login_failed"]) == (4, 1, 2)

    # The other per-user state the traffic touched.
    assert [links[str(user)]["blocked"] for user in linked[9:]] == [True, True]
    assert all(links[str(user)]["notifications"]["muted_groups"] == ["files"] for user in linked[:5])
    assert server_log.crashes() == []


def slow_answer(seconds: float, reply: str) -> Callable[[dict[str, Any]], Reply]:
    """A scripted Gemini answer that takes `seconds` (so that turns started together overlap)."""

    def answer(request: dict[str, Any]) -> Reply:
        time.sleep(seconds)
        return text(reply)

    return answer


def test_assistant_turns_of_one_user_at_once_are_all_counted(
    webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini, server_log: ServerLog
) -> None:
    link_user("busy", 750_001, role="vendor")
    gemini.enqueue(*[slow_answer(0.5, f"answer {number}") for number in range(5)])
    sender = Sender(webhook)
    sender.post_at_once([message_update(750_001, f"question {number}") for number in range(5)])

    assert sorted(telegram.sent_texts(750_001)) == [f"answer {number}" for number in range(5)]
    assert server_log.crashes() == []
    state = history.load_state(750_001)
    assert [usage.messages for usage in state.days.values()] == [5]
    asked = [json.loads(exchange.contents[0])["parts"][0]["text"] for _, exchange in state.conversation("busy")]
    assert sorted(asked) == [f"question {number}" for number in range(5)]


def test_two_notification_taps_at_once_both_apply(
    webhook: FunctionServer, telegram: FakeTelegram, firestore_faults: FirestoreFaults, server_log: ServerLog
) -> None:
    link_user("tapper", 750_002, role="customer")
    firestore_faults.slow_down(writes_to("tg_links"), 0.3)  # a database a little slow to write
    Sender(webhook).post_at_once(
        [callback_update(750_002, "notif:files:off"), callback_update(750_002, "notif:orders:off")]
    )
    firestore_faults.recover()

    assert [call.params["text"] for call in telegram.calls_to("answerCallbackQuery")] == ["Saved", "Saved"]
    assert server_log.crashes() == []
    assert documents("tg_links")["750002"]["notifications"]["muted_groups"] == ["files", "orders"]


def test_the_account_a_link_moves_away_from_keeps_no_history(
    webhook: FunctionServer, telegram: FakeTelegram, gemini: FakeGemini
) -> None:
    """Found by this suite: the account kept the first user's conversation, and gave it to the next one's model."""
    from shared.store import history

    link_user("alice", 760_001, role="vendor")
    add_crm_user("bob", "bob@example.com")
    gemini.enqueue(text("Alice's deal ACME-SECRET is worth 1M."), text("Hello Bob."))
    post_update(webhook, message_update(760_001, "what is my biggest deal?"))
    assert history.load_state(760_001).exchanges, "the first answer was kept in the history"

    for step in ("/login alice@example.com", PASSWORD):  # Alice links from her second Telegram account
        post_update(webhook, message_update(760_002, step))
    assert documents("tg_links").keys() == {"760002"}
    for step in ("/login bob@example.com", PASSWORD, "hi"):  # and the first account is now Bob's
        post_update(webhook, message_update(760_001, step))

    assert telegram.last_text(760_001) == "Hello Bob."
    assert "ACME-SECRET" not in gemini.generate_requests()[-1].raw_body.decode()
