"""Benchmark 1: one stream of updates handled by our webhook over HTTP, by our handler in-process, and by a
python-telegram-bot Application with equivalent handlers, all against the same fake Bot API.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from bench import crm
from bench.rpc_timer import RpcTimer
from bench.stack import Stack
from bench.stats import latency_summary, ratio
from tests.chat import message_update
from tests.harness import WEBHOOK_SECRET, serve_function

if TYPE_CHECKING:
    from shared.telegram.client import TelegramClient

LINKED_USERS = {9_100_001: crm.VENDOR, 9_100_002: crm.EMPLOYEE, 9_100_003: "demo-emp-eva"}
LINKED_COMMANDS = ("/me", "/help", "/deals")
FRESH_USERS_FROM = 9_200_000
WARM_UP_USER = 9_300_001
CYCLE = "CCLCCLCCLD"
"""Per ten updates: six commands from linked users, three login steps, one duplicate of an earlier update."""


@dataclass(frozen=True)
class Item:
    kind: str
    """linked_command, login_step or duplicate."""
    body: bytes


def build_stream(size: int, seed: int = 8) -> tuple[list[Item], int]:
    """`size` updates in the CYCLE pattern, and how many fresh users log in along the way."""
    rng = random.Random(seed)
    commands = [(user, command) for command in LINKED_COMMANDS for user in LINKED_USERS]
    logins = size * CYCLE.count("L") // len(CYCLE) // 3 + 1
    login_steps = [
        (FRESH_USERS_FROM + index, text)
        for index in range(logins)
        for text in ("/start", f"bench-login-{index}@bench.example", crm.LOGIN_PASSWORD)
    ]
    stream: list[Item] = []
    while len(stream) < size:
        kind = CYCLE[len(stream) % len(CYCLE)]
        if kind == "C":
            user, text = commands[len(stream) % len(commands)]
            stream.append(Item("linked_command", json.dumps(message_update(user, text)).encode()))
        elif kind == "L":
            user, text = login_steps.pop(0)
            stream.append(Item("login_step", json.dumps(message_update(user, text)).encode()))
        else:
            stream.append(Item("duplicate", rng.choice([item for item in stream if item.kind != "duplicate"]).body))
    return stream, logins


def seed_state(stack: Stack, logins: int) -> None:
    """The same starting state for every mode: the demo CRM, three linked staff, accounts to log in to."""
    stack.reset()
    crm.load_demo()
    for telegram_user_id, crm_user_id in LINKED_USERS.items():
        crm.link(telegram_user_id, crm_user_id)
    crm.add_login_accounts(logins, "bench-login")


def warm_up_stream() -> list[bytes]:
    """Updates that load every code path once (imports, clients, connections) before timing starts."""
    texts = ["/help", "/start", "/cancel", "/me"]
    users = list(LINKED_USERS)
    bodies = [message_update(WARM_UP_USER, text) for text in texts]
    bodies += [message_update(users[0], text) for text in LINKED_COMMANDS]
    return [json.dumps(body).encode() for body in bodies]


def _timed(stream: list[Item], handle: Callable[[bytes], None]) -> tuple[float, list[float]]:
    durations: list[float] = []
    started = time.perf_counter()
    for item in stream:
        before = time.perf_counter()
        handle(item.body)
        durations.append(time.perf_counter() - before)
    return time.perf_counter() - started, durations


def run_webhook_http(
    stack: Stack, timer: RpcTimer, stream: list[Item], logins: int, answers: list[dict[str, Any]]
) -> tuple[float, list[float]]:
    """(a) Our webhook function, served by functions-framework on loopback, one POST per update; the replies its
    answers name (Telegram sends those after the answer, off the update's clock) are kept in `answers`."""
    seed_state(stack, logins)
    served = serve_function("webhook", "telegram_webhook")
    session = requests.Session()
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}

    def post(body: bytes) -> None:
        response = session.post(served.url + "/", data=body, headers=headers, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"the webhook answered {response.status_code}: {response.text}")
        if "method" in response.json():
            answers.append(response.json())

    try:
        for body in warm_up_stream():
            post(body)
        stack.telegram.reset()
        answers.clear()
        timer.reset()
        return _timed(stream, post)
    finally:
        session.close()
        served.server.shutdown()
        served.server.server_close()


def handle_in_process(body: bytes, telegram: TelegramClient) -> dict[str, Any] | None:
    """What the webhook does with a request body once the secret is checked, without HTTP; the method its answer
    would name, if any."""
    from shared.bot.conversation import WebhookReply
    from shared.bot.webhook import parse_update, take_update

    update = parse_update(body)
    if isinstance(update, str):
        raise RuntimeError(f"not an update: {update}")
    reply = WebhookReply()
    take_update(update, telegram, reply)
    return reply.answer()


def run_in_process(
    stack: Stack, timer: RpcTimer, stream: list[Item], logins: int, answers: list[dict[str, Any]]
) -> tuple[float, list[float]]:
    """(b) The webhook's own steps without HTTP: parse_update, then take_update (the claim, the link read beside it,
    and the handling)."""
    from shared.telegram.client import get_telegram_client

    seed_state(stack, logins)
    telegram = get_telegram_client()

    def handle(body: bytes) -> None:
        answer = handle_in_process(body, telegram)
        if answer is not None:
            answers.append(answer)

    for body in warm_up_stream():
        handle(body)
    stack.telegram.reset()
    answers.clear()
    timer.reset()
    return _timed(stream, handle)


def run_ptb(stack: Stack, timer: RpcTimer, stream: list[Item]) -> tuple[float, list[float]]:
    """(c) Baseline: python-telegram-bot's Application.process_update with equivalent handlers, no storage."""
    stack.telegram.reset()
    timer.reset()
    return asyncio.run(_ptb_stream(stack, stream))


async def _ptb_stream(stack: Stack, stream: list[Item]) -> tuple[float, list[float]]:
    from telegram import Update
    from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

    from shared.bot import texts
    from shared.bot.help import guest_help, role_help
    from shared.bot.router import COMMANDS
    from shared.roles import Role

    deals = "💼 <b>Open deals</b>\n\n" + "\n\n".join(
        f"<b>Deal {n}</b> · Bench deal number {n}\n🔍 Prospecting · 18,500.00 EUR\n👤 ACME Corp" for n in range(1, 9)
    )
    me = "👤 <b>Your account</b>\n\nName: Vera Vendor\nEmail: vendor@demo.example\nRole: vendor\nOrganisation: demo-org"
    replies = {
        "start": texts.WELCOME,
        "help": texts.help_page(body_html=role_help(COMMANDS, Role.VENDOR)),
        "me": me,
        "deals": deals,
        "cancel": texts.NOTHING_TO_CANCEL,
    }

    def command(reply: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Any]:
        async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.effective_message is not None
            await update.effective_message.reply_html(reply)

        return answer

    async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        body = update.effective_message.text or ""
        await update.effective_message.reply_html(texts.ASK_PASSWORD if "@" in body else guest_help(COMMANDS))

    application = (
        Application.builder()
        .token(stack.telegram.token)
        .base_url(f"{stack.telegram.base_url}/bot")
        .updater(None)
        .build()
    )
    for name, reply in replies.items():
        application.add_handler(CommandHandler(name, command(reply)))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, text))
    failures: list[object] = []

    async def failed(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        failures.append(context.error)

    application.add_error_handler(failed)

    async def handle(body: bytes) -> None:
        await application.process_update(Update.de_json(json.loads(body), application.bot))

    async with application:
        for body in warm_up_stream():
            await handle(body)
        stack.telegram.reset()
        durations: list[float] = []
        started = time.perf_counter()
        for item in stream:
            before = time.perf_counter()
            await handle(item.body)
            durations.append(time.perf_counter() - before)
        wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"the baseline failed {len(failures)} updates, e.g. {failures[0]!r}: its figures would lie")
    return wall, durations


def _check_answers(stack: Stack, mode: str, answers: list[dict[str, Any]]) -> None:
    """Timings of a mode that failed updates would flatter it: refuse them."""
    from shared.bot import texts

    said = [*stack.telegram.sent_texts(), *(str(answer.get("text")) for answer in answers)]
    apologies = said.count(texts.SOMETHING_WENT_WRONG)
    if apologies:
        raise RuntimeError(f"{mode}: {apologies} updates failed (the bot apologised): see the log above")


def _summary(
    stack: Stack,
    timer: RpcTimer,
    stream: list[Item],
    wall: float,
    durations: list[float],
    answers: list[dict[str, Any]],
) -> dict[str, Any]:
    by_kind: dict[str, list[float]] = {}
    for item, duration in zip(stream, durations, strict=True):
        by_kind.setdefault(item.kind, []).append(duration)
    return {
        "updates": len(stream),
        "seconds": round(wall, 3),
        "updates_per_s": round(len(stream) / wall, 1),
        **latency_summary(durations),
        "bot_api_calls": len(stack.telegram.calls),
        "replies_in_webhook_answers": len(answers),
        "firestore_rpcs": timer.calls,
        "firestore_ms_per_update": round(timer.seconds / len(stream) * 1000, 2),
        "p50_ms_by_kind": {kind: latency_summary(values)["p50_ms"] for kind, values in by_kind.items()},
    }


def run(stack: Stack, quick: bool) -> dict[str, Any]:
    """All three modes on the same stream, in one run; ratios are ours / baseline."""
    from shared.store import db

    stream, logins = build_stream(120 if quick else 300)
    timer = RpcTimer()
    db.observe_rpcs(timer)
    modes: dict[str, Any] = {}
    answers: list[dict[str, Any]] = []
    try:
        measures: dict[str, Callable[[], tuple[float, list[float]]]] = {
            "webhook_http": lambda: run_webhook_http(stack, timer, stream, logins, answers),
            "in_process": lambda: run_in_process(stack, timer, stream, logins, answers),
            "ptb_baseline": lambda: run_ptb(stack, timer, stream),
        }
        for name, measure in measures.items():
            answers.clear()
            wall, durations = measure()
            _check_answers(stack, name, answers)
            modes[name] = _summary(stack, timer, stream, wall, durations, answers)
    finally:
        db.stop_observing()
    baseline = modes["ptb_baseline"]
    for name in ("webhook_http", "in_process"):
        modes[name]["throughput_ratio_vs_ptb"] = ratio(modes[name]["updates_per_s"], baseline["updates_per_s"])
        modes[name]["p50_ratio_vs_ptb"] = ratio(modes[name]["p50_ms"], baseline["p50_ms"])
    kinds = {kind: sum(item.kind == kind for item in stream) for kind in ("linked_command", "login_step", "duplicate")}
    return {"stream": kinds, "modes": modes, "password_check_ms_at_production_iterations": password_check_ms()}


def password_check_ms() -> float:
    """One PBKDF2 verification at the CRM's 600k rounds; the stream's logins use 1,000 to keep the run short."""
    from shared.auth.passwords import DEFAULT_ITERATIONS, hash_password, verify_password

    encoded = hash_password(crm.LOGIN_PASSWORD, DEFAULT_ITERATIONS)
    durations = []
    for _ in range(3):
        before = time.perf_counter()
        verify_password(crm.LOGIN_PASSWORD, encoded)
        durations.append(time.perf_counter() - before)
    return round(latency_summary(durations)["p50_ms"], 1)
