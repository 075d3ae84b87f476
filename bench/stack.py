"""What every benchmark runs against: its own Firestore emulator, the fake Telegram and Gemini servers on loopback,
and the environment of a deployed instance pointed at them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.bot_api import BotApi
from devstack.emulator import Emulator, start_emulator
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import ADMIN_TOKEN, NOTIFY_SECRET, WEBHOOK_SECRET, forbid_network

PROJECT = "demo-bench"
BENCH_ITERATIONS = 1_000
"""PBKDF2 rounds of the bench's passwords (as in the tests); a real CRM uses 600k+ (see docs/performance.md)."""


def clear_instance_caches() -> None:
    """Forget the per-instance clients and settings, as a new Cloud Functions instance would."""
    from shared import instance

    instance.reset()


@dataclass
class Stack:
    """The emulator and the fake servers of one `make bench` run."""

    emulator: Emulator
    telegram: BotApi
    gemini: FakeGemini
    workdir: Path

    def environment(self, telegram: FakeTelegram | None = None) -> dict[str, str]:
        """The variables the three functions read (as in tests/conftest.py's `env` fixture)."""
        bot_api = telegram or self.telegram
        return {
            "TG_BOT_TOKEN": bot_api.token,
            "TG_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TELEGRAM_API_BASE": bot_api.base_url,
            "GEMINI_API_KEY": "bench-gemini-key",
            "GEMINI_BASE_URL": self.gemini.base_url,
            "GEMINI_MODEL": "gemini-bench",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "FIRESTORE_EMULATOR_HOST": self.emulator.host,
            "NOTIFY_SIGNING_SECRET": NOTIFY_SECRET,
            "ADMIN_API_TOKEN": ADMIN_TOKEN,
            "WEBSITE_URL": "https://crm.example.com",
            # 20 exchanges in a row must not hit the per-minute limit (benchmark 5).
            "ASSISTANT_MESSAGES_PER_MINUTE": "1000",
            # The bench's accounts hash with 1,000 rounds; a production floor would make every login step a second.
            "PASSWORD_CHECK_SECONDS": "0.01",
        }

    def use(self, telegram: FakeTelegram | None = None) -> None:
        """Point this process's functions at the stack (and at `telegram`, if given), with fresh clients."""
        os.environ.update(self.environment(telegram))
        clear_instance_caches()

    def reset(self) -> None:
        """Wipe Firestore and the fakes' records, so each benchmark starts from the same state."""
        from shared import clock

        self.emulator.reset(PROJECT)
        self.telegram.reset()
        self.gemini.reset()
        clock.reset()


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    """Start a fresh emulator and the fakes; stop them all at the end, whatever happens."""
    forbid_network()
    with contextlib.ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        emulator = start_emulator(workdir / "emulator.log")
        cleanup.callback(emulator.stop)
        telegram = BotApi()
        telegram.start()
        cleanup.callback(telegram.stop)
        gemini = cleanup.enter_context(FakeGemini())
        stack = Stack(emulator, telegram, gemini, workdir)
        stack.use()
        yield stack
