"""Pacing sends under Telegram's limits (https://core.telegram.org/bots/faq#broadcasting-to-users).

About 30 messages a second overall and one a second per chat. Threads ask the pacer before each send;
nothing is started after the caller's deadline, so the caller can report what is left as pending. An
instance has one pacer (`instance_pacer`), so the requests it serves, one after another or at once, stay
within the limits together (re-drives run in the admin function, with its own).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from shared.instance import per_instance

MESSAGES_PER_SECOND = 28.0
"""Under Telegram's 30: Telegram counts arrivals, and jitter between our starts and their arrivals (thread
scheduling, the network) would otherwise put a 31st message in some second now and then, and each 429
pauses every send for a second (benchmark 4: at 29/s one run in three met a 429, at 28/s none did)."""
SECONDS_BETWEEN_MESSAGES_TO_A_CHAT = 1.0
_CHATS_REMEMBERED = 10_000
"""Past this many chats, those whose spacing has run out are forgotten."""


class Pacer:
    """Lets a send start when the overall rate, the chat's spacing, and any flood pause allow it.

    Overall: starts are at least 1/`per_second` apart and at most `per_second` fall in any one second
    (measured on the starts themselves, so a thread that wakes late cannot cause a burst). Per chat: a
    message starts `per_chat_interval` after the chat's last message arrived.
    """

    def __init__(
        self,
        per_second: float = MESSAGES_PER_SECOND,
        per_chat_interval: float = SECONDS_BETWEEN_MESSAGES_TO_A_CHAT,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0 or per_chat_interval < 0:
            raise ValueError("per_second must be positive and per_chat_interval not negative")
        self._interval = 1.0 / per_second
        self._window_size = max(1, int(per_second))
        self._window = self._window_size / per_second
        self._per_chat_interval = per_chat_interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque(maxlen=self._window_size)
        self._paused_until = 0.0
        self._chat_ready: dict[int, float] = {}

    def acquire(self, chat_id: int, deadline: float) -> bool:
        """Wait until a message may go to `chat_id`; False (without waiting) if that is past `deadline`."""
        while True:
            with self._lock:
                now = self._monotonic()
                earliest = max(now, self._chat_ready.get(chat_id, 0.0), self._paused_until)
                if self._starts:
                    earliest = max(earliest, self._starts[-1] + self._interval)
                if len(self._starts) == self._window_size:
                    earliest = max(earliest, self._starts[0] + self._window)
                if earliest > deadline:
                    return False
                if earliest <= now:
                    self._starts.append(now)
                    # Held until sent() or hold_chat() says more: another request must not start one meanwhile.
                    self._chat_ready[chat_id] = max(self._chat_ready.get(chat_id, 0.0), now + self._per_chat_interval)
                    return True
            self._sleep(earliest - now)  # then check again: another thread may have taken the slot

    def now(self) -> float:
        """The pacer's clock (monotonic seconds), which deadlines and ready_at() are on."""
        return self._monotonic()

    def ready_at(self, chat_id: int) -> float:
        """The earliest time (on the monotonic clock) a message to `chat_id` may start, the overall rate aside."""
        with self._lock:
            return max(self._chat_ready.get(chat_id, 0.0), self._paused_until)

    def sent(self, chat_id: int) -> None:
        """A message reached `chat_id`: its next one waits `per_chat_interval` (failed attempts back off instead)."""
        self.hold_chat(chat_id, self._per_chat_interval)

    def hold_chat(self, chat_id: int, seconds: float) -> None:
        """Send nothing to `chat_id` for `seconds` from now (back-off after a server error); this replaces the
        hold acquire() put on the chat while its message was on the way."""
        with self._lock:
            now = self._monotonic()
            if len(self._chat_ready) >= _CHATS_REMEMBERED:
                self._chat_ready = {chat: ready for chat, ready in self._chat_ready.items() if ready > now}
            self._chat_ready[chat_id] = now + seconds

    def pause(self, seconds: float) -> None:
        """Send nothing to anyone for `seconds` (Telegram's retry_after)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._monotonic() + seconds)


@per_instance
def instance_pacer(
    per_second: float = MESSAGES_PER_SECOND, per_chat_interval: float = SECONDS_BETWEEN_MESSAGES_TO_A_CHAT
) -> Pacer:
    """This instance's pacer for these limits (requests arriving together on a new instance get the same one)."""
    return Pacer(per_second, per_chat_interval)
