"""Sending messages: retries Telegram's transient errors, obeys flood control, keeps each chat's order."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from shared.notify.ledger import DeliveryStatus
from shared.notify.pacer import Pacer
from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramForbidden
from shared.telegram.send_policy import Ending, Sender, SendPolicy, SendResult

log = logging.getLogger(__name__)

BUDGET_RAN_OUT = "the time budget ran out before sending"
MAX_SENDING_THREADS = 32
"""At 30 messages a second and one a second per chat, about 30 chats are ever in flight at once."""

NOTIFICATIONS = SendPolicy(attempts=3, backoff=0.5, max_backoff=4.0, flood_waits=3, longest_flood_wait=None)
"""Nobody is waiting: three tries, a back-off that doubles, and any flood wait that ends before the deadline."""


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

    def shared(self) -> SendOutcome:
        """The outcome of the chat's later messages once this one stopped the chat: none of them was tried."""
        return SendOutcome(self.status, error=self.error)


class _PacedUntil:
    """Notify's pacing: a try waits for the pacer and starts only before the deadline; a 429 pauses every chat,
    a transient failure holds this one."""

    def __init__(self, pacer: Pacer, deadline: float, started: bool) -> None:
        self._pacer = pacer
        self._deadline = deadline
        self._started = started

    def may_start(self, chat_id: int) -> bool:
        if self._started:
            self._started = False
            return True
        return self._pacer.acquire(chat_id, self._deadline)

    def flood_wait(self, seconds: float) -> None:
        self._pacer.pause(seconds)

    def back_off(self, chat_id: int, seconds: float) -> None:
        self._pacer.hold_chat(chat_id, seconds)

    def sent(self, chat_id: int) -> None:
        self._pacer.sent(chat_id)


def send_notification(
    telegram: TelegramClient,
    message: Outgoing,
    pacer: Pacer,
    deadline: float,
    policy: SendPolicy = NOTIFICATIONS,
    *,
    started: bool = False,
) -> SendOutcome:
    """Send one message through the pacer, retrying what is worth retrying until `deadline` (monotonic).

    `started`: the pacer already let the first attempt start.
    """
    sender = Sender(telegram, policy, _PacedUntil(pacer, deadline, started))
    return _outcome(sender.send(message.chat_id, message.html))


def _outcome(result: SendResult) -> SendOutcome:
    error = str(result.error) if result.error is not None else None
    if result.ending is Ending.SENT:
        message_id = result.message.message_id if result.message is not None else None
        return SendOutcome(DeliveryStatus.SENT, result.attempts, telegram_message_id=message_id)
    if result.ending is Ending.OUT_OF_TIME:
        return SendOutcome(DeliveryStatus.PENDING, result.attempts, error=error or BUDGET_RAN_OUT)
    blocked = isinstance(result.error, TelegramForbidden) and result.error.bot_was_blocked
    return SendOutcome(DeliveryStatus.BLOCKED if blocked else DeliveryStatus.FAILED, result.attempts, error=error)


class _ChatQueues:
    """The messages still to send, by chat, and which chat's message goes next.

    One message per chat is in flight at a time, in the order given. Senders take in turn, each waiting for
    the pacer's next start, so the chat is chosen when its message can start: among the chats the pacer
    would let a message start to, the one with the most messages waiting (ties: the chat seen first). A chat
    with several messages needs a second between them, so starting it late leaves a tail at the end.
    """

    def __init__(self, pacer: Pacer, deadline: float) -> None:
        self._pacer = pacer
        self._deadline = deadline
        self._changed = threading.Condition()
        self._taking = threading.Lock()
        self._waiting: dict[int, deque[Outgoing]] = {}
        self._in_flight: set[int] = set()
        self._stopped: dict[int, SendOutcome] = {}
        self._closed = False

    def put(self, message: Outgoing) -> SendOutcome | None:
        """Queue a message; if its chat was stopped (budget spent, bot blocked), the outcome it shares instead."""
        with self._changed:
            stopped = self._stopped.get(message.chat_id)
            if stopped is not None:
                return stopped.shared()
            self._waiting.setdefault(message.chat_id, deque()).append(message)
            self._changed.notify()
            return None

    def close(self) -> None:
        """No more messages will be put."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def take(self) -> tuple[Outgoing, bool] | None:
        """The next message and whether the pacer let it start (False: not before the deadline); None when
        everything has been handed out."""
        with self._taking:
            message = self._next()
            return None if message is None else (message, self._pacer.acquire(message.chat_id, self._deadline))

    def _next(self) -> Outgoing | None:
        with self._changed:
            while True:
                chats = [chat for chat in self._waiting if chat not in self._in_flight]
                if not chats:
                    if self._closed and not self._waiting:
                        return None
                    self._changed.wait()
                    continue
                ready_at = {chat: self._pacer.ready_at(chat) for chat in chats}
                now = self._pacer.now()
                # A chat that cannot start before the deadline is handed out at once too: it ends pending.
                ready = [chat for chat in chats if ready_at[chat] <= now or ready_at[chat] > self._deadline]
                if not ready:
                    self._changed.wait(timeout=min(ready_at.values()) - now)
                    continue
                chat = max(ready, key=lambda candidate: len(self._waiting[candidate]))
                queue = self._waiting[chat]
                message = queue.popleft()
                if not queue:
                    del self._waiting[chat]
                self._in_flight.add(chat)
                return message

    def finish(self, chat_id: int, outcome: SendOutcome) -> list[Outgoing]:
        """The chat's message in flight ended so; if that stops the chat, its waiting messages (not to be sent)."""
        with self._changed:
            self._in_flight.discard(chat_id)
            dropped: list[Outgoing] = []
            if outcome.status in (DeliveryStatus.PENDING, DeliveryStatus.BLOCKED):
                self._stopped[chat_id] = outcome
                dropped = list(self._waiting.pop(chat_id, ()))
            self._changed.notify_all()
            return dropped


def deliver_in_order(
    telegram: TelegramClient,
    messages: Iterable[Outgoing],
    pacer: Pacer,
    deadline: float,
    policy: SendPolicy = NOTIFICATIONS,
    on_outcome: Callable[[Outgoing, SendOutcome], None] | None = None,
) -> dict[str, SendOutcome]:
    """Send messages, chats in parallel and each chat's in the given order, until `deadline`; outcomes by key.

    `messages` may still be arriving (a generator): sending starts with the first one. After a chat's message
    stays pending (the deadline) or finds the bot blocked, its later messages are not sent and share that
    outcome, so no chat ever gets its messages out of order.
    """
    queues = _ChatQueues(pacer, deadline)
    outcomes: dict[str, SendOutcome] = {}

    def report(message: Outgoing, outcome: SendOutcome) -> None:
        outcomes[message.key] = outcome
        if on_outcome is None:
            return
        try:
            on_outcome(message, outcome)
        except Exception:
            log.exception("could not record the outcome of notification %s", message.key)

    def send_until_done() -> None:
        while (taken := queues.take()) is not None:
            message, started = taken
            try:
                if started:
                    outcome = send_notification(telegram, message, pacer, deadline, policy, started=True)
                else:
                    outcome = SendOutcome(DeliveryStatus.PENDING, error=BUDGET_RAN_OUT)
            except Exception as error:  # a bug must not lose the chat's other messages
                log.exception("sending notification %s failed", message.key)
                outcome = SendOutcome(DeliveryStatus.FAILED, error=f"internal error: {type(error).__name__}")
            report(message, outcome)
            for dropped in queues.finish(message.chat_id, outcome):
                report(dropped, outcome.shared())

    chats: set[int] = set()
    with ThreadPoolExecutor(max_workers=MAX_SENDING_THREADS) as pool:
        senders: list[Future[None]] = []
        try:
            for message in messages:
                shared_outcome = queues.put(message)
                if shared_outcome is not None:
                    report(message, shared_outcome)
                elif message.chat_id not in chats and len(senders) < MAX_SENDING_THREADS:
                    senders.append(pool.submit(send_until_done))
                chats.add(message.chat_id)
        finally:
            queues.close()
        for sender in senders:
            sender.result()
    return outcomes
