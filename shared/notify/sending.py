"""Sending messages: retries Telegram's transient errors, obeys flood control, keeps each chat's order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shared.notify.ledger import DeliveryStatus
from shared.notify.pacer import Pacer
from shared.telegram.client import TelegramClient
from shared.telegram.errors import (
    TelegramBadRequest,
    TelegramError,
    TelegramForbidden,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from shared.telegram.formatting import html_to_plain_text

log = logging.getLogger(__name__)

MAX_SENDING_THREADS = 32
"""At 30 messages a second and one a second per chat, about 30 chats are ever in flight at once."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one message."""

    max_attempts: int = 3
    """Attempts in all when Telegram answers 5xx or does not answer in time."""
    backoff: float = 0.5
    """Seconds before the second attempt; doubles after each failure, up to `max_backoff`."""
    max_backoff: float = 4.0
    max_flood_waits: int = 3
    """How many 429s to wait out (each for Telegram's retry_after) before giving up."""


@dataclass(frozen=True)
class Outgoing:
    """One message to send: `key` lets the caller match the outcome to its event."""

    key: str
    chat_id: int
    html: str


@dataclass(frozen=True)
class SendOutcome:
    """How sending one message ended: sent, blocked, failed, or pending (the time budget ran out first)."""

    status: DeliveryStatus
    attempts: int = 0
    telegram_message_id: int | None = None
    error: str | None = None


def send_notification(
    telegram: TelegramClient, message: Outgoing, pacer: Pacer, policy: RetryPolicy = RetryPolicy()
) -> SendOutcome:
    """Send one message through the pacer, retrying what is worth retrying while the budget lasts."""
    attempts = flood_waits = 0
    backoff = policy.backoff
    error: str | None = None
    html = message.html
    parse_mode: str | None = "HTML"
    while True:
        if not pacer.acquire(message.chat_id):
            return SendOutcome(
                DeliveryStatus.PENDING, attempts, error=error or "the time budget ran out before sending"
            )
        attempts += 1
        try:
            sent = telegram.send_message(message.chat_id, html, parse_mode=parse_mode)
        except TelegramRetryAfter as failure:
            error = str(failure)
            flood_waits += 1
            if flood_waits > policy.max_flood_waits:
                return SendOutcome(DeliveryStatus.FAILED, attempts, error=error)
            pacer.pause(failure.retry_after if failure.retry_after is not None else 1.0)
        except (TelegramServerError, TelegramNetworkError) as failure:
            error = str(failure)
            if attempts - flood_waits >= policy.max_attempts:
                return SendOutcome(DeliveryStatus.FAILED, attempts, error=error)
            pacer.hold_chat(message.chat_id, backoff)
            backoff = min(backoff * 2, policy.max_backoff)
        except TelegramForbidden as failure:
            status = DeliveryStatus.BLOCKED if failure.bot_was_blocked else DeliveryStatus.FAILED
            return SendOutcome(status, attempts, error=str(failure))
        except TelegramBadRequest as failure:
            if not failure.is_parse_error or parse_mode is None:
                return SendOutcome(DeliveryStatus.FAILED, attempts, error=str(failure))
            log.warning("Telegram rejected a notification's HTML (%s); sending plain text", failure.description)
            error, html, parse_mode = str(failure), html_to_plain_text(html), None
        except TelegramError as failure:
            return SendOutcome(DeliveryStatus.FAILED, attempts, error=str(failure))
        else:
            pacer.sent(message.chat_id)
            return SendOutcome(DeliveryStatus.SENT, attempts, telegram_message_id=sent.message_id)


def deliver_in_order(
    telegram: TelegramClient,
    messages: Sequence[Outgoing],
    pacer: Pacer,
    policy: RetryPolicy = RetryPolicy(),
    on_outcome: Callable[[Outgoing, SendOutcome], None] | None = None,
) -> dict[str, SendOutcome]:
    """Send messages, chats in parallel and each chat's in the given order; outcomes by key.

    After a chat's message stays pending (budget) or finds the bot blocked, its later messages are not
    sent and share that outcome, so no chat ever gets its messages out of order.
    """
    by_chat: dict[int, list[Outgoing]] = {}
    for message in messages:
        by_chat.setdefault(message.chat_id, []).append(message)
    outcomes: dict[str, SendOutcome] = {}

    def report(message: Outgoing, outcome: SendOutcome) -> None:
        outcomes[message.key] = outcome
        if on_outcome is None:
            return
        try:
            on_outcome(message, outcome)
        except Exception:
            log.exception("could not record the outcome of notification %s", message.key)

    def send_chat(queue: list[Outgoing]) -> None:
        stopped: SendOutcome | None = None
        for message in queue:
            if stopped is not None:
                report(message, SendOutcome(stopped.status, error=stopped.error))
                continue
            try:
                outcome = send_notification(telegram, message, pacer, policy)
            except Exception as error:  # a bug must not lose the chat's other messages
                log.exception("sending notification %s failed", message.key)
                outcome = SendOutcome(DeliveryStatus.FAILED, error=f"internal error: {type(error).__name__}")
            report(message, outcome)
            if outcome.status in (DeliveryStatus.PENDING, DeliveryStatus.BLOCKED):
                stopped = outcome

    if by_chat:
        with ThreadPoolExecutor(max_workers=min(MAX_SENDING_THREADS, len(by_chat))) as pool:
            for future in [pool.submit(send_chat, queue) for queue in by_chat.values()]:
                future.result()
    return outcomes
