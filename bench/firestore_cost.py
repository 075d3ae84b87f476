"""Benchmark 2: Firestore reads and writes per kind of update, counted on the emulator channel
(tests/firestore_rpcs.py), each kind sent once through the webhook over HTTP.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from bench import crm
from bench.stack import Stack
from tests.chat import message_update
from tests.fakes.gemini_api import function_calls, text
from tests.firestore_rpcs import FirestoreRpcs
from tests.harness import WEBHOOK_SECRET, FunctionServer, serve_function

LINKED = 9_400_001
GUEST = 9_400_002
LOGGING_IN = 9_400_003
TOOL = "list_deals"
TOOL_ARGS: dict[str, Any] = {"open_only": True}


@dataclass
class Counted(FirestoreRpcs):
    """FirestoreRpcs that also counts lookups of documents that do not exist (Firestore bills those too)."""

    absent: int = 0

    def reset(self) -> None:
        super().reset()
        self.absent = 0

    def _count(self, method: str, response: Any) -> None:
        super()._count(method, response)
        raw = type(response).pb(response) if hasattr(type(response), "pb") else response
        if method == "BatchGetDocuments" and raw.WhichOneof("result") == "missing":
            with self._lock:
                self.absent += 1


@dataclass
class Cost:
    reads: int
    writes: int
    absent: int
    rpcs: dict[str, int]
    bot_api: list[str]
    sequential: int
    """Firestore round trips one after another on the way to the answer (RPCs in flight together count once)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "reads": self.reads,
            "writes": self.writes,
            "sequential_round_trips": self.sequential,
            "absent_document_lookups": self.absent,
            "rpcs": self.rpcs,
            "bot_api_calls": self.bot_api,
        }


def _measure(stack: Stack, rpcs: Counted, action: Callable[[], None]) -> Cost:
    rpcs.reset()
    stack.telegram.reset()
    action()
    reads, writes = rpcs.snapshot()
    bot_api = [call.method for call in stack.telegram.calls]
    return Cost(reads, writes, rpcs.absent, dict(Counter(rpcs.calls)), bot_api, rpcs.sequential_round_trips())


def _post(webhook: FunctionServer, body: bytes) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    response = requests.post(webhook.url + "/", data=body, headers=headers, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"the webhook answered {response.status_code}: {response.text}")


def _verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def run(stack: Stack) -> dict[str, Any]:
    """Costs per kind, the assistant's own tool cost, and PASS/MISS per target (figures only)."""
    from shared.auth.session import load_session
    from shared.bot.crm_commands import LISTINGS, PAGE_SIZE
    from shared.crm.tools.registry import call_tool
    from shared.store import db

    rpcs = Counted()
    db.observe_rpcs(rpcs)
    stack.reset()
    crm.load_demo()
    crm.link(LINKED, crm.EMPLOYEE)
    [email] = crm.add_login_accounts(1, "bench-cost")
    webhook = serve_function("webhook", "telegram_webhook")
    try:

        def send(user: int, message: str) -> Callable[[], None]:
            body = json.dumps(message_update(user, message)).encode()
            return lambda: _post(webhook, body)

        _post(webhook, json.dumps(message_update(GUEST, "/help")).encode())  # warm-up: clients and channels
        first = json.dumps(message_update(LINKED, "/help")).encode()
        _post(webhook, first)
        costs = {"duplicate": _measure(stack, rpcs, lambda: _post(webhook, first))}
        costs["unlinked_command (/help)"] = _measure(stack, rpcs, send(GUEST, "/help"))
        costs["linked_command (/me)"] = _measure(stack, rpcs, send(LINKED, "/me"))
        costs["linked_command (/help)"] = _measure(stack, rpcs, send(LINKED, "/help"))
        costs["linked_command (/deals)"] = _measure(stack, rpcs, send(LINKED, "/deals"))

        stack.gemini.reset()
        for _ in range(2):  # the first turn creates the user's history document; the second is the usual case
            stack.gemini.enqueue(function_calls([(TOOL, TOOL_ARGS)]), text("You have **open deals**: see above."))
        send(LINKED, "Show my open deals")()
        costs["assistant_turn (1 tool call)"] = _measure(stack, rpcs, send(LINKED, "Show my open deals again"))
        session = load_session(LINKED).session
        assert session is not None
        tool = _measure(stack, rpcs, lambda: _check_tool(call_tool(session.caller(), TOOL, TOOL_ARGS)))
        deals_page = LISTINGS["d"]
        page_args = {**deals_page.args_for(session.role), "page_size": PAGE_SIZE}
        listing = _measure(stack, rpcs, lambda: _check_tool(call_tool(session.caller(), deals_page.tool, page_args)))

        costs["login_step (/start)"] = _measure(stack, rpcs, send(LOGGING_IN, "/start"))
        costs["login_step (email)"] = _measure(stack, rpcs, send(LOGGING_IN, email))
        costs["login_step (password)"] = _measure(stack, rpcs, send(LOGGING_IN, crm.LOGIN_PASSWORD))
    finally:
        webhook.server.shutdown()
        webhook.server.server_close()
        db.stop_observing()

    duplicate = costs["duplicate"]
    me = costs["linked_command (/me)"]
    turn = costs["assistant_turn (1 tool call)"]
    beyond = (turn.reads - tool.reads, turn.writes - tool.writes)
    deals = costs["linked_command (/deals)"]
    targets = {
        # The claim carries the day's counts, so a duplicate's one refused commit sends 2 writes: none is applied.
        "duplicate: 1 commit, refused as a whole, no Bot API call": {
            "measured": f"{duplicate.rpcs.get('Commit', 0)} commit(s) of {duplicate.writes} write(s),"
            f" {len(duplicate.bot_api)} Bot API call(s)",
            "verdict": _verdict(duplicate.rpcs.get("Commit", 0) == 1 and not duplicate.bot_api),
        },
        "duplicate: 1 Firestore round trip": {
            "measured": f"{duplicate.sequential} sequential",
            "verdict": _verdict(duplicate.sequential <= 1),
        },
        "linked command (/me): <= 2 sequential Firestore round trips": {
            "measured": f"{me.sequential} sequential",
            "verdict": _verdict(me.sequential <= 2),
        },
        "linked command (/me): no Bot API round trip before the response": {
            "measured": f"{len(me.bot_api)} Bot API call(s) during the request",
            "verdict": _verdict(not me.bot_api),
        },
        "linked command (/me): <= 2 reads + 2 writes": {
            "measured": f"{me.reads} reads + {me.writes} writes",
            "verdict": _verdict(me.reads <= 2 and me.writes <= 2),
        },
        "linked command (/deals) beyond its tool: <= 2 reads + 2 writes": {
            "measured": f"{deals.reads - listing.reads} reads + {deals.writes - listing.writes} writes"
            f" (+ the tool's {listing.reads} reads)",
            "verdict": _verdict(deals.reads - listing.reads <= 2 and deals.writes - listing.writes <= 2),
        },
        "assistant turn beyond its tool: <= 3 reads + 3 writes": {
            "measured": f"{beyond[0]} reads + {beyond[1]} writes"
            f" (+ the tool's {tool.reads} reads, {tool.writes} writes)",
            "verdict": _verdict(beyond[0] <= 3 and beyond[1] <= 3),
        },
    }
    return {
        "kinds": {kind: cost.as_json() for kind, cost in costs.items()},
        "tool_alone": {f"{TOOL} {json.dumps(TOOL_ARGS)}": tool.as_json(), "/deals listing": listing.as_json()},
        "targets": targets,
    }


def _check_tool(result: Any) -> None:
    if not result.get("ok"):
        raise RuntimeError(f"the tool failed: {result}")
