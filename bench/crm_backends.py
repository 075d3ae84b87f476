"""Benchmark 6: the CRM behind the port, over both adapters. The same rounds of updates go through the webhook (and
one event through notify) over HTTP, with CRM_BACKEND=firestore (the demo data in the emulator) and with
CRM_BACKEND=rest against the reference CRM (devstack/reference_crm) holding the same demo data: the requests the
CRM receives per kind of update, and each kind's latency over each backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from bench import crm
from bench.reference_crm import CountingReferenceCrm, CrmCall
from bench.rpc_timer import RpcTimer
from bench.stack import Stack, clear_instance_caches
from bench.stats import percentile
from shared import clock
from shared.notify.signature import sign
from tests.chat import callback_update, message_update
from tests.fakes.gemini_api import function_calls, text
from tests.harness import NOTIFY_SECRET, WEBHOOK_SECRET, FunctionServer, serve_function

if TYPE_CHECKING:
    from devstack.reference_crm.data import CrmData

BACKENDS = ("firestore", "rest")
RUN_ORDER = ("firestore", "rest", "rest", "firestore")
"""Each backend runs twice with half the rounds, in this order, so that drift (the emulator's JVM warming up, other
work on the machine) falls on both alike."""
ROUNDS = 30
QUICK_ROUNDS = 6
"""Measured rounds per backend (in two runs)."""
WARM_UP_ROUNDS = 1
"""Rounds of each run before timing starts: imports, clients, connections, the assistant's history document."""
VENDOR_CHAT = 9_800_001
CUSTOMER_CHAT = 9_800_002
GUEST_CHAT = 9_800_003
LOGIN_CHATS_FROM = 9_810_000
"""A fresh Telegram user logs in each round (their account: bench-rest-login-<round>)."""
NOTIFY_CHATS_FROM = 9_820_000
"""Each round's event goes to a customer user of its own: notify sends a chat at most one message a second."""
STAGES = ("negotiation", "proposal")
"""The /stage of each round, in turn, so each Confirm changes the deal."""
TOOL = "list_deals"
TOOL_ARGS: dict[str, Any] = {"open_only": True}
SESSION_READ = "GET /users/{id}"
CRM_SETTINGS = ("CRM_BACKEND", "CRM_API_URL", "CRM_SIGNING_SECRET")

KINDS = (
    "duplicate",
    "unlinked_command (/help)",
    "linked_command (/me)",
    "linked_command (/help)",
    "linked_command (/deals)",
    "linked_command (/orders, a customer)",
    "linked_command (/stage preview)",
    "button_tap (Confirm of /stage)",
    "assistant_turn (1 tool call)",
    "login_step (/start)",
    "login_step (email)",
    "login_step (password)",
    "notify_event (order.shipped)",
)
SESSION_KINDS = tuple(kind for kind in KINDS if kind.startswith(("linked_command", "button_tap", "assistant_turn")))
"""Updates of a linked user: each reads its session, with exactly one CRM call (GET /users/{their id})."""


@dataclass
class Demo:
    """What the rounds act on, found in the demo data (the same ids and numbers over both backends)."""

    customer_id: str
    deal_number: int
    order_id: str
    order_number: int


@dataclass
class Measured:
    """One kind of update over one backend: per update, its time, its Firestore time and the CRM's requests."""

    seconds: list[float] = field(default_factory=list)
    firestore_seconds: list[float] = field(default_factory=list)
    crm_calls: list[list[CrmCall]] = field(default_factory=list)

    def extend(self, other: Measured) -> None:
        self.seconds += other.seconds
        self.firestore_seconds += other.firestore_seconds
        self.crm_calls += other.crm_calls


class Round:
    """One round's updates, in order, each a callable that sends it; what one update tells the next (the Confirm
    button of the preview) is kept here."""

    def __init__(self, run: BackendRun, number: int) -> None:
        self.run, self.number = run, number
        self.confirm_data: str | None = None

    def updates(self) -> list[tuple[str, Callable[[], object]]]:
        webhook = self.run.webhook_post
        me = message_update(VENDOR_CHAT, "/me")
        login_chat = LOGIN_CHATS_FROM + self.number
        deal = self.run.demo.deal_number
        return [
            ("unlinked_command (/help)", lambda: webhook(message_update(GUEST_CHAT, "/help"))),
            ("linked_command (/me)", lambda: webhook(me)),
            ("duplicate", lambda: webhook(me, duplicate=True)),
            ("linked_command (/help)", lambda: webhook(message_update(VENDOR_CHAT, "/help"))),
            ("linked_command (/deals)", lambda: webhook(message_update(VENDOR_CHAT, "/deals"))),
            ("linked_command (/orders, a customer)", lambda: webhook(message_update(CUSTOMER_CHAT, "/orders"))),
            (
                "linked_command (/stage preview)",
                lambda: self._preview(message_update(VENDOR_CHAT, f"/stage {deal} {STAGES[self.number % 2]}")),
            ),
            ("button_tap (Confirm of /stage)", self._confirm),
            ("assistant_turn (1 tool call)", self._assistant_turn),
            ("login_step (/start)", lambda: webhook(message_update(login_chat, "/start"))),
            ("login_step (email)", lambda: webhook(message_update(login_chat, self.run.login_emails[self.number]))),
            ("login_step (password)", lambda: webhook(message_update(login_chat, crm.LOGIN_PASSWORD))),
            ("notify_event (order.shipped)", self._notify),
        ]

    def _preview(self, update: dict[str, Any]) -> None:
        self.run.stack.telegram.reset()
        answer = self.run.webhook_post(update)
        sent = [answer] if answer is not None else []
        sent += [call.params for call in self.run.stack.telegram.calls_to("sendMessage")]
        buttons = [button for params in sent for button in _buttons(params)]
        self.confirm_data = next((button["callback_data"] for button in buttons if "Confirm" in button["text"]), None)
        if self.confirm_data is None:
            raise RuntimeError(f"/stage showed no Confirm button: {sent}")

    def _confirm(self) -> None:
        if self.confirm_data is None:
            raise RuntimeError("no preview to confirm")
        self.run.stack.telegram.reset()
        answer = self.run.webhook_post(callback_update(VENDOR_CHAT, self.confirm_data))
        said = [str(call.params.get("text")) for call in self.run.stack.telegram.calls_to("editMessageText")]
        said += [str(answer.get("text"))] if answer is not None else []
        if not any("Done" in line for line in said):
            raise RuntimeError(f"the Confirm tap did not make the change: {said}")

    def _assistant_turn(self) -> None:
        self.run.stack.gemini.enqueue(function_calls([(TOOL, TOOL_ARGS)]), text("You have **open deals**: see above."))
        self.run.webhook_post(message_update(VENDOR_CHAT, "Show my open deals"))

    def _notify(self) -> None:
        demo = self.run.demo
        event = {
            "id": f"bench-crm-{self.run.backend}-{self.number}",
            "type": "order.shipped",
            "occurred_at": "2024-01-15T14:30:00Z",
            "user_id": notify_user(self.number),
            "data": {
                "order_id": demo.order_id,
                "order_number": str(demo.order_number),
                "customer_id": demo.customer_id,
            },
        }
        body = json.dumps({"events": [event]}).encode()
        headers = {"X-Signature": sign(body, NOTIFY_SECRET, int(clock.now().timestamp()))}
        response = self.run.http.post(self.run.notify.url + "/", data=body, headers=headers, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"notify answered {response.status_code}: {response.text[:500]}")
        statuses = [result["status"] for result in response.json()["results"]]
        if statuses != ["sent"]:
            raise RuntimeError(f"notify did not send the event: {response.text[:500]}")


def notify_user(number: int) -> str:
    return f"bench-notify-{number}"


def _buttons(params: dict[str, Any]) -> list[dict[str, Any]]:
    markup = params.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return [button for row in markup.get("inline_keyboard", []) for button in row if "callback_data" in button]


class BackendRun:
    """The functions over one backend, its CRM seeded, the rounds measured."""

    def __init__(self, stack: Stack, backend: str, demo: Demo, reference: CountingReferenceCrm | None) -> None:
        self.stack, self.backend, self.demo, self.reference = stack, backend, demo, reference
        self.http = requests.Session()
        self.webhook: FunctionServer
        self.notify: FunctionServer
        self.login_emails: list[str] = []

    def webhook_post(self, update: dict[str, Any], duplicate: bool = False) -> dict[str, Any] | None:
        """POST an update as Telegram does; the method its answer names, if any (Telegram would run it)."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        response = self.http.post(self.webhook.url + "/", json=update, headers=headers, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"the webhook answered {response.status_code}: {response.text[:500]}")
        answer: dict[str, Any] = response.json()
        if ("duplicate" in answer) != duplicate:
            raise RuntimeError(f"the webhook's answer to a {'repeated' if duplicate else 'new'} update: {answer}")
        _refuse_apologies(self.backend, answer, self.stack)
        return answer if "method" in answer else None

    def seed(self, rounds: int) -> None:
        """Three linked users, an account to log in to and a notify recipient per round."""
        data = self.reference.data if self.reference is not None else None
        if data is None:
            crm.load_demo()
        crm.link(VENDOR_CHAT, crm.VENDOR)
        crm.link(CUSTOMER_CHAT, crm.CUSTOMER)
        self.login_emails = crm.add_login_accounts(rounds, "bench-rest-login", data)
        for number in range(rounds):
            user_id = notify_user(number)
            email = f"{user_id}@bench.example"
            crm.add_user(
                user_id,
                email,
                role="customer",
                name="Bench Notified",
                customer_id=self.demo.customer_id,
                reference=data,
            )
            crm.link(NOTIFY_CHATS_FROM + number, user_id)

    def measure(self, rounds: int, timer: RpcTimer) -> dict[str, Measured]:
        measured = {kind: Measured() for kind in KINDS}
        for number in range(rounds):
            for kind, send in Round(self, number).updates():
                self._take_calls()
                timer.reset()
                before = time.perf_counter()
                send()
                seconds = time.perf_counter() - before
                calls = self._take_calls()
                if number >= WARM_UP_ROUNDS:
                    measured[kind].seconds.append(seconds)
                    measured[kind].firestore_seconds.append(timer.seconds)
                    measured[kind].crm_calls.append(calls)
        self._check_logins(rounds)
        return measured

    def _check_logins(self, rounds: int) -> None:
        """A password step that did not link would be timed as a refusal: refuse the figures instead."""
        from shared.store import links

        unlinked = [n for n in range(rounds) if links.get_link(LOGIN_CHATS_FROM + n) is None]
        if unlinked:
            raise RuntimeError(f"{self.backend}: {len(unlinked)} of {rounds} logins did not link")

    def _take_calls(self) -> list[CrmCall]:
        return self.reference.take() if self.reference is not None else []


def _refuse_apologies(backend: str, answer: dict[str, Any], stack: Stack) -> None:
    """Timings of updates that failed would flatter a backend: refuse them."""
    from shared.bot import texts

    said = [*stack.telegram.sent_texts(), str(answer.get("text"))]
    for failure in (texts.SOMETHING_WENT_WRONG, texts.CRM_UNREACHABLE, texts.CRM_BUSY):
        if failure in said:
            raise RuntimeError(f"{backend}: an update was answered {failure!r}: see the log above")


@contextlib.contextmanager
def _settings(values: dict[str, str]) -> Iterator[None]:
    """The CRM settings of one backend in this process's environment; the ones before afterwards."""
    before = {name: os.environ.get(name) for name in CRM_SETTINGS}
    for name in CRM_SETTINGS:
        os.environ.pop(name, None)
    os.environ.update(values)
    clear_instance_caches()
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        clear_instance_caches()


def find_demo(data: CrmData) -> Demo:
    """Alice Acme's customer id, an open deal of demo-org in neither of STAGES, and an order of Alice's."""
    from shared.crm.records import Deal, Order

    alice = data.users[crm.CUSTOMER]
    assert alice.customer_id is not None, "the demo's Alice Acme is a customer's login"
    deals = [r for r in data.records["deals"].values() if isinstance(r, Deal) and r.org_id == "demo-org"]
    open_deals = [deal for deal in deals if deal.stage not in (*STAGES, "closed_won", "closed_lost")]
    deal = min((deal for deal in open_deals if deal.number is not None), key=lambda deal: deal.number or 0)
    orders = [r for r in data.records["orders"].values() if isinstance(r, Order) and r.customer_id == alice.customer_id]
    order = min((order for order in orders if order.number is not None), key=lambda order: order.number or 0)
    assert deal.number is not None
    assert order.number is not None
    return Demo(alice.customer_id, deal.number, order.id, order.number)


@dataclass
class BackendResult:
    """What one run over a backend measured."""

    measured: dict[str, Measured]
    port_seconds: dict[str, list[float]]
    more_button: dict[str, Any]
    tools_alone: dict[str, Any]
    """Over `rest`: the CRM requests of the tools on their own."""


def _run_backend(stack: Stack, backend: str, rounds: int, demo: Demo) -> BackendResult:
    """The rounds over one backend, then single port calls; over `rest`, the reference CRM serves the demo data,
    freshly loaded."""
    from devstack.reference_crm.data import load
    from shared.crm.demo import DEMO_DATA_PATH
    from shared.store import db

    reference = CountingReferenceCrm(load(DEMO_DATA_PATH)) if backend == "rest" else None
    timer = RpcTimer()
    with contextlib.ExitStack() as cleanup:
        if reference is not None:
            cleanup.callback(reference.stop)
        cleanup.enter_context(_settings(reference.environment() if reference is not None else {"CRM_BACKEND": backend}))
        db.observe_rpcs(timer)
        cleanup.callback(db.stop_observing)
        stack.reset()
        run = BackendRun(stack, backend, demo, reference)
        cleanup.callback(run.http.close)
        run.seed(rounds)
        run.webhook = serve_function("webhook", "telegram_webhook")
        run.notify = serve_function("notify", "notify")
        for served in (run.webhook, run.notify):
            cleanup.callback(served.server.server_close)
            cleanup.callback(served.server.shutdown)
        measured = run.measure(rounds, timer)
        return BackendResult(
            measured,
            _port_calls(demo, rounds - WARM_UP_ROUNDS),
            _more_button(VENDOR_CHAT),
            _tools_alone(reference) if reference is not None else {},
        )


def _port_calls(demo: Demo, repeats: int) -> dict[str, list[float]]:
    """Single questions to the CRM through the port, in this process, each asked `repeats` times in turn after one
    warm-up: what one call costs over this backend, without an update around it."""
    from shared.auth.session import load_session
    from shared.crm.backend import get_crm
    from shared.crm.records import Deal, Order

    session = load_session(VENDOR_CHAT).session
    assert session is not None
    caller = session.caller()
    port = get_crm()
    questions: dict[str, Callable[[], object]] = {
        "get_user (the session read)": lambda: port.get_user(crm.VENDOR),
        "find_by_number (a deal, as /stage)": lambda: port.find_by_number(caller, Deal, demo.deal_number),
        "get_record (an order, as notify)": lambda: port.get_record(None, Order, demo.order_id),
    }
    seconds: dict[str, list[float]] = {name: [] for name in questions}
    for name, ask in questions.items():
        if ask() is None:
            raise RuntimeError(f"{name} found nothing")
    for _ in range(repeats):
        for name, ask in questions.items():
            before = time.perf_counter()
            ask()
            seconds[name].append(time.perf_counter() - before)
    return seconds


def _more_button(chat: int) -> dict[str, Any]:
    """Whether the first /deals page's cursor fits in its More button's 64 bytes of callback_data with this CRM
    (when it does not, the bot keeps it in tg_page_cursors and the button carries a key)."""
    from shared.auth.session import load_session
    from shared.bot import crm_commands
    from shared.crm.tools.registry import ToolError, run_tool
    from shared.crm.tools.results import RecordPage

    session = load_session(chat).session
    assert session is not None
    listing = crm_commands.LISTINGS["d"]
    args = {**listing.args_for(session.role), "page_size": crm_commands.PAGE_SIZE}
    page = run_tool(session.caller(), listing.tool, args, RecordPage)
    if isinstance(page, ToolError) or page.next_cursor is None:
        raise RuntimeError(f"the /deals listing has no second page: {page}")
    data = f"{crm_commands.MORE_KIND}:{listing.code}:{page.next_cursor}"
    return {
        "cursor_bytes": len(page.next_cursor.encode()),
        "callback_data_bytes": len(data.encode()),
        "limit_bytes": crm_commands.CALLBACK_DATA_LIMIT,
        "fits": len(data.encode()) <= crm_commands.CALLBACK_DATA_LIMIT,
    }


def _tools_alone(reference: CountingReferenceCrm) -> dict[str, Any]:
    """The CRM requests of the listings' and the assistant's tool calls on their own, with no update around them."""
    from shared.auth.session import load_session
    from shared.bot.crm_commands import LISTINGS, PAGE_SIZE
    from shared.crm.tools.registry import call_tool

    alone: dict[str, Any] = {}
    for name, chat, tool, args in (
        (f"{TOOL} {json.dumps(TOOL_ARGS)}", VENDOR_CHAT, TOOL, TOOL_ARGS),
        ("/deals listing", VENDOR_CHAT, LISTINGS["d"].tool, None),
        ("/orders listing (a customer)", CUSTOMER_CHAT, LISTINGS["o"].tool, None),
    ):
        session = load_session(chat).session
        assert session is not None
        if args is None:  # a listing: the arguments its command passes
            listing = next(listing for listing in LISTINGS.values() if listing.tool == tool)
            args = {**listing.args_for(session.role), "page_size": PAGE_SIZE}
        reference.take()
        result = call_tool(session.caller(), tool, args)
        if not result.get("ok"):
            raise RuntimeError(f"the tool failed: {result}")
        alone[name] = _calls_json(reference.take())
    return alone


def _calls_json(calls: list[CrmCall]) -> dict[str, Any]:
    repeated = {request: n for request, n in Counter(call.request for call in calls).items() if n > 1}
    read = Counter(record for call in calls for record in set(call.records))
    return {
        "calls": len(calls),
        "by_endpoint": dict(Counter(call.endpoint for call in calls)),
        "repeated_requests": repeated,
        "records_read_twice": {
            record: {
                "endpoints": [call.endpoint for call in calls if record in call.records],
                "requests": [call.request for call in calls if record in call.records],
            }
            for record, n in read.items()
            if n > 1
        },
        "crm_ms": round(sum(call.seconds for call in calls) * 1000, 2),
    }


def _ms(values: list[float], fraction: float) -> float:
    return round(percentile(values, fraction) * 1000, 2)


def _session_reads(kind: str, calls: list[CrmCall]) -> int:
    """Reads of the sender's own CRM user: the session (a tool reading another user is the tool's)."""
    own = crm.CUSTOMER if "customer" in kind else crm.VENDOR
    return sum(call.endpoint == SESSION_READ and call.path == f"/users/{quote(own, safe='')}" for call in calls)


def _crm_calls(measured: Measured, kind: str) -> dict[str, Any]:
    """The requests per update of one kind: the same in every round, or the spread (and the last round's detail)."""
    totals = [len(calls) for calls in measured.crm_calls]
    per_update = [_calls_json(calls) for calls in measured.crm_calls]
    endpoints = {json.dumps(figures["by_endpoint"], sort_keys=True) for figures in per_update}
    sessions = [_session_reads(kind, calls) for calls in measured.crm_calls]
    return {
        "calls": max(totals),
        "calls_min": min(totals),
        "same_every_update": len(endpoints) == 1,
        "by_endpoint": per_update[-1]["by_endpoint"],
        "session_reads_max": max(sessions),
        "session_reads_min": min(sessions),
        "repeated_requests": per_update[-1]["repeated_requests"],
        "records_read_twice": per_update[-1]["records_read_twice"],
        "crm_ms_p50": _ms([sum(call.seconds for call in calls) for calls in measured.crm_calls], 0.5),
        "statuses": dict(Counter(str(call.status) for calls in measured.crm_calls for call in calls)),
    }


def _latency(measured: Measured) -> dict[str, Any]:
    return {
        "updates": len(measured.seconds),
        "p50_ms": _ms(measured.seconds, 0.5),
        "p95_ms": _ms(measured.seconds, 0.95),
        "firestore_ms_p50": _ms(measured.firestore_seconds, 0.5),
    }


def _targets(calls: dict[str, Any], tools: dict[str, Any]) -> dict[str, Any]:
    """Exactly one session read per linked update (FAIL fails the run), and a listing costs its tool and no more."""
    targets: dict[str, Any] = {}
    for kind in SESSION_KINDS:
        found = calls[kind]
        low, high = found["session_reads_min"], found["session_reads_max"]
        targets[f"{kind}: exactly 1 CRM call for the session"] = {
            "measured": f"{high if low == high else f'{low}-{high}'} x {SESSION_READ} (of {found['calls']} calls)",
            "verdict": "PASS" if low == high == 1 else "FAIL",
        }
    for kind, tool in (
        ("linked_command (/deals)", "/deals listing"),
        ("linked_command (/orders, a customer)", "/orders listing (a customer)"),
        ("assistant_turn (1 tool call)", f"{TOOL} {json.dumps(TOOL_ARGS)}"),
    ):
        beyond = calls[kind]["calls"] - tools[tool]["calls"]
        targets[f"{kind}: the session call + what its tool needs"] = {
            "measured": f"{beyond} + the tool's {tools[tool]['calls']}",
            "verdict": "PASS" if beyond <= 1 else "MISS",
        }
    return targets


def run(stack: Stack, quick: bool) -> dict[str, Any]:
    """Both backends, the same rounds, each in two halves (RUN_ORDER); CRM calls are counted over `rest` (the
    Firestore adapter's reads are benchmark 2's)."""
    from devstack.reference_crm.data import load
    from shared.crm.demo import DEMO_DATA_PATH

    rounds = QUICK_ROUNDS if quick else ROUNDS
    per_run = WARM_UP_ROUNDS + rounds // RUN_ORDER.count(BACKENDS[0])
    demo = find_demo(load(DEMO_DATA_PATH))
    measured = {backend: {kind: Measured() for kind in KINDS} for backend in BACKENDS}
    port: dict[str, dict[str, list[float]]] = {backend: {} for backend in BACKENDS}
    more: dict[str, Any] = {}
    tools: dict[str, Any] = {}
    for backend in RUN_ORDER:
        result = _run_backend(stack, backend, per_run, demo)
        for kind, found in result.measured.items():
            measured[backend][kind].extend(found)
        for name, seconds in result.port_seconds.items():
            port[backend].setdefault(name, []).extend(seconds)
        more[backend] = result.more_button
        tools = result.tools_alone or tools
    stack.use()
    latency: dict[str, dict[str, Any]] = {}
    for backend, kinds in measured.items():
        latency[backend] = {kind: _latency(found) for kind, found in kinds.items()}
        every = Measured()
        for found in kinds.values():
            every.extend(found)
        latency[backend]["all updates"] = _latency(every)
    calls = {kind: _crm_calls(measured["rest"][kind], kind) for kind in KINDS}
    targets = _targets(calls, tools)
    return {
        "rounds": len(measured["rest"][KINDS[0]].seconds),
        "run_order": list(RUN_ORDER),
        "warm_up_rounds_per_run": WARM_UP_ROUNDS,
        "crm_calls_over_rest": calls,
        "tool_alone_over_rest": tools,
        "latency": latency,
        "port_calls": {
            backend: {
                name: {"calls": len(seconds), "p50_ms": _ms(seconds, 0.5), "p95_ms": _ms(seconds, 0.95)}
                for name, seconds in questions.items()
            }
            for backend, questions in port.items()
        },
        "more_button": more,
        "targets": targets,
        "failures": [target for target, found in targets.items() if found["verdict"] == "FAIL"],
    }
