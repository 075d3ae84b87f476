"""Fake Bot API servers for the benchmarks, built on the tests' FakeTelegram (which stays as it is).

`BotApi` also reads form-encoded bodies, the way python-telegram-bot sends its parameters, so the baseline
of benchmark 1 talks to the same fake as our client. `RateLimitedBotApi` enforces Telegram's broadcast
limits for benchmark 4 and answers 429 with `parameters.retry_after` beyond them.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.telegram_api import FakeTelegram


def _form_value(value: str) -> Any:
    """python-telegram-bot sends every non-string parameter JSON-encoded inside the form."""
    if value[:1] in ("{", "[") or value in ("true", "false") or value.lstrip("-").isdigit():
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


@dataclass
class BotApi(FakeTelegram):
    """FakeTelegram that also accepts `application/x-www-form-urlencoded` parameters."""

    def _answer(self, path: str, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        if "x-www-form-urlencoded" in content_type:
            params = {key: _form_value(value) for key, value in parse_qsl(raw.decode(), keep_blank_values=True)}
            raw, content_type = json.dumps(params).encode(), "application/json"
        return super()._answer(path, raw, content_type)


@dataclass(frozen=True)
class Delivery:
    """A sendMessage the rate-limited fake accepted."""

    at: float
    chat_id: int
    text: str


@dataclass
class RateLimitedBotApi(BotApi):
    """Accepts at most `per_second` sendMessage calls in any `window` seconds overall and one per
    `per_chat_interval` seconds per chat (measured when each call arrives); beyond that, 429 with retry_after.
    """

    per_second: int = 30
    window: float = 1.0
    per_chat_interval: float = 1.0
    deliveries: list[Delivery] = field(default_factory=list)
    flood_errors: Counter[str] = field(default_factory=Counter)
    """429s answered, by the limit that was hit: `overall` or `per_chat`."""
    _recent: deque[float] = field(default_factory=deque)
    _last_to_chat: dict[int, float] = field(default_factory=dict)
    _limits: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        super().reset()
        with self._limits:
            self.deliveries.clear()
            self.flood_errors.clear()
            self._recent.clear()
            self._last_to_chat.clear()

    def _method_sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        chat_id = params.get("chat_id")
        with self._limits:
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - self.window:
                self._recent.popleft()
            wait, limit = 0.0, ""
            if len(self._recent) >= self.per_second:
                wait, limit = self._recent[0] + self.window - now, "overall"
            last = self._last_to_chat.get(chat_id) if isinstance(chat_id, int) else None
            if last is not None and now - last < self.per_chat_interval:
                wait, limit = max(wait, last + self.per_chat_interval - now), "per_chat"
            if wait > 0:
                self.flood_errors[limit] += 1
                retry_after = max(1, math.ceil(wait))
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                }
            result = super()._method_sendMessage(params)
            if isinstance(result, tuple):  # a 400 or 403 is not a delivery and does not count
                return result
            assert isinstance(chat_id, int)
            self._recent.append(now)
            self._last_to_chat[chat_id] = now
            self.deliveries.append(Delivery(now, chat_id, str(params.get("text", ""))))
            return result
