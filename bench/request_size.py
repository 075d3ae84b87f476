"""Benchmark 5: bytes of the generateContent requests the assistant sends (recorded by the fake Gemini), as a
proxy for input tokens: the first request per role, and the first request of each of 20 exchanges.
"""

from __future__ import annotations

import json
from typing import Any

from bench import crm
from bench.stack import Stack
from bench.update_handling import handle_in_process
from tests.chat import message_update
from tests.fakes.gemini_api import RecordedRequest, function_calls, text

ROLE_CHATS = {"vendor": 9_700_001, "employee": 9_700_002, "customer": 9_700_003}
LONG_CHAT = 9_700_004
"""A second Telegram account of the vendor, whose history starts empty for the 20 exchanges."""
EXCHANGES = 20
TOOL_OF_ROLE = {"vendor": "list_deals", "employee": "list_deals", "customer": "list_orders"}
REPLY = "Here is what I found:\n\n" + "\n".join(f"- **Deal {n}**: stage *proposal*, 12,000 EUR" for n in range(1, 9))
PLATEAU_TOLERANCE = 0.05
CONTENTS_PER_EXCHANGE = 4
"""The user's message, the model's function call, the function's response, the model's answer."""


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _parts(request: RecordedRequest) -> dict[str, int]:
    """The request's bytes and what they are made of (compact JSON of each top-level section)."""
    body = request.json
    return {
        "bytes": request.raw_size,
        "system_instruction": _json_size(body.get("systemInstruction", {})),
        "tools": _json_size(body.get("tools", [])),
        "contents": _json_size(body.get("contents", [])),
        "contents_count": len(body.get("contents", [])),
    }


def _say(stack: Stack, chat: int, message: str) -> None:
    from shared.telegram.client import get_telegram_client

    handle_in_process(json.dumps(message_update(chat, message)).encode(), get_telegram_client())


def run(stack: Stack) -> dict[str, Any]:
    """First request per role; then EXCHANGES exchanges (one tool call each) of the vendor, request by request."""
    stack.reset()
    crm.load_demo()
    for role, chat in ROLE_CHATS.items():
        crm.link(chat, crm.ROLE_USERS[role])
    crm.link(LONG_CHAT, crm.VENDOR)

    first: dict[str, Any] = {}
    for role, chat in ROLE_CHATS.items():
        stack.gemini.reset()
        stack.gemini.enqueue(text("Hello! How can I help?"))
        _say(stack, chat, "hello")
        [request] = stack.gemini.generate_requests()
        first[role] = _parts(request)

    chat = LONG_CHAT
    growth: list[dict[str, int]] = []
    for exchange in range(1, EXCHANGES + 1):
        stack.gemini.reset()
        stack.gemini.enqueue(function_calls([(TOOL_OF_ROLE["vendor"], {})]), text(REPLY))
        _say(stack, chat, f"Show my deals ({exchange})")
        requests = stack.gemini.generate_requests()
        if len(requests) != 2:
            raise RuntimeError(f"exchange {exchange}: expected 2 generateContent requests, got {len(requests)}")
        growth.append({"exchange": exchange, **_parts(requests[0])})

    sizes = [step["bytes"] for step in growth]
    peak = max(sizes)
    settled = sizes[len(sizes) // 2 :]
    plateau = (max(settled) - min(settled)) <= PLATEAU_TOLERANCE * peak
    return {
        "first_request_by_role": first,
        "history": growth,
        "exchange_1_bytes": sizes[0],
        "exchange_20_bytes": sizes[-1],
        "peak_bytes": peak,
        "exchanges_kept_at_the_end": (growth[-1]["contents_count"] - 1) // CONTENTS_PER_EXCHANGE,
        "plateau": "PASS" if plateau else "MISS",
        "plateau_rule": f"the last {len(settled)} exchanges' first requests within {PLATEAU_TOLERANCE:.0%} of the peak",
    }
