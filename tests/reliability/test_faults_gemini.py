"""Faults: Gemini answering 500 and 429, malformed function calls, and answers slower than the turn's deadline.

Several linked users ask at the same moment, each getting a different fault, so the retries, back-offs and the
deadline of one turn are exercised while the others run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from shared.agent.gemini import Failure
from shared.bot.assistant import REPLIES
from shared.config import get_settings
from shared.store import history
from tests.chat import message_update, post_update
from tests.fakes.gemini_api import FakeGemini, Reply, error, malformed_function_call, text
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import FunctionServer
from tests.reliability.conftest import ServerLog
from tests.test_notify import link_user

pytestmark = pytest.mark.emulator

TURN_SECONDS = 6.0
# A retry starts only if MIN_CALL_SECONDS remain after its backoff (shared/agent/gemini.py): with 4 s, a first call
# ending more than 1 s into the turn (eight turns at once on a loaded machine) left no room for the retry.
Step = Reply | tuple[float, Reply]
"""A scripted answer, or (seconds to wait first, answer)."""


class ScriptedByMessage:
    """Answers each generateContent by the user message it carries: the n-th call about a message gets the n-th
    step of that message's script. Concurrent turns each follow their own script, whatever the order of calls."""

    def __init__(self, scripts: dict[str, list[Step]]) -> None:
        self._scripts = scripts
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: dict[str, Any]) -> Reply:
        message = next(
            part["text"]
            for content in reversed(request["contents"])
            if content.get("role") == "user"
            for part in content["parts"]
            if "text" in part
        )
        with self._lock:
            step = self._scripts[message][self._calls[message]]
            self._calls[message] += 1
        if isinstance(step, tuple):
            seconds, step = step
            time.sleep(seconds)
        return step

    def calls(self, message: str) -> int:
        return self._calls[message]


SCRIPTS: dict[str, tuple[list[Step], str]] = {
    # message: (what Gemini does, what the user is told)
    "500 every time": ([error(500, "Internal error")] * 3, REPLIES[Failure.BUSY]),
    "429 every time": ([error(429, "Resource exhausted", retry_after=1)] * 3, REPLIES[Failure.BUSY]),
    "500 once": ([error(500, "Internal error"), text("Answer after a 500.")], "Answer after a 500."),
    "429 once": ([error(429, "Resource exhausted", retry_after=1), text("Answer after a 429.")], "Answer after a 429."),
    "malformed twice": ([malformed_function_call()] * 2, REPLIES[Failure.MALFORMED]),
    "malformed once": ([malformed_function_call(), text("Answer after a bad call.")], "Answer after a bad call."),
    "slower than the deadline": ([(TURN_SECONDS + 2, text("Too late."))], REPLIES[Failure.TIMEOUT]),
    "400": ([error(400, "Request contains an invalid argument.")], REPLIES[Failure.REJECTED]),
}


def test_each_gemini_fault_gets_its_reply_within_the_deadline(
    webhook: FunctionServer,
    telegram: FakeTelegram,
    gemini: FakeGemini,
    server_log: ServerLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASSISTANT_TURN_SECONDS", str(TURN_SECONDS))
    get_settings.forget()
    users = {message: 810_000 + index for index, message in enumerate(SCRIPTS)}
    for user in users.values():
        link_user(f"asker-{user}", user, role="vendor")
    script = ScriptedByMessage({message: steps for message, (steps, _) in SCRIPTS.items()})
    gemini.enqueue(*[script] * 20)

    start = threading.Barrier(len(users))
    elapsed: dict[str, float] = {}

    def ask(message: str) -> None:
        start.wait(timeout=30)
        started = time.monotonic()
        assert post_update(webhook, message_update(users[message], message)).status_code == 200
        elapsed[message] = time.monotonic() - started

    threads = [threading.Thread(target=ask, args=(message,)) for message in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    print("\n" + "\n".join(f"{message}: answered in {seconds:.1f} s" for message, seconds in elapsed.items()))

    assert elapsed.keys() == users.keys()
    for message, user in users.items():
        reply = SCRIPTS[message][1]
        assert telegram.sent_texts(user) == [reply], message
        assert elapsed[message] < TURN_SECONDS + 2, f"{message}: the turn outlived its deadline"
        state = history.load_state(user)
        completed = reply not in REPLIES.values()
        assert len(state.exchanges) == (1 if completed else 0), f"{message}: only a completed turn is kept"
        assert [usage.messages for usage in state.days.values()] == [1], f"{message}: every turn counts"
    assert script.calls("malformed twice") == 2
    assert script.calls("500 every time") >= 2, "a 500 is retried while the deadline allows"
    assert server_log.crashes() == []
