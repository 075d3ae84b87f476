"""The one way a message goes out: flood waits, bounded retries, plain text when Telegram cannot parse our HTML.

Replies, confirmations and notifications all send through a Sender and differ only in its SendPolicy and its
Pacing: a reply sleeps through its waits in the thread that serves the update, while notify plugs in its pacer
and deadline. Replies are split to Telegram's limit (`message_parts`); a notification is one message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shared.telegram.client import TelegramClient
from shared.telegram.errors import (
    TelegramBadRequest,
    TelegramError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from shared.telegram.formatting import TELEGRAM_MESSAGE_LIMIT, html_to_plain_text, split_html_message, utf16_length
from shared.telegram.types import InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)

FLOOD_WAIT_WITHOUT_RETRY_AFTER = 1.0
"""Seconds to wait after a 429 that does not say how long."""


@dataclass(frozen=True)
class SendPolicy:
    """How hard to try one message."""

    attempts: int
    """Tries in all when Telegram answers 5xx or does not answer in time."""
    backoff: float
    """Seconds before the second try after such a failure; doubles after each one, up to `max_backoff`."""
    max_backoff: float
    flood_waits: int
    """How many 429s to wait out (each for Telegram's retry_after) before giving up; they use no attempt."""
    longest_flood_wait: float | None
    """A 429 asking for a longer wait is not waited out; None: any is (the pacing's deadline decides)."""


class Pacing(Protocol):
    """When tries may start, and how the waits a policy asks for are spent."""

    def may_start(self, chat_id: int) -> bool:
        """Wait until a try may go to `chat_id`; False when none may any more (a deadline)."""

    def flood_wait(self, seconds: float) -> None:
        """Telegram answered 429: send nothing for `seconds`."""

    def back_off(self, chat_id: int, seconds: float) -> None:
        """A try failed transiently: wait `seconds` before the next try to `chat_id`."""

    def sent(self, chat_id: int) -> None:
        """Telegram took a message to `chat_id`."""


@dataclass(frozen=True)
class Sleeping:
    """Pacing for replies: every try may start at once, and each wait is slept through where it is asked for."""

    sleep: Callable[[float], None] = time.sleep

    def may_start(self, chat_id: int) -> bool:
        return True

    def flood_wait(self, seconds: float) -> None:
        self.sleep(seconds)

    def back_off(self, chat_id: int, seconds: float) -> None:
        self.sleep(seconds)

    def sent(self, chat_id: int) -> None:
        """Nothing to remember: replies are not paced."""


SLEEPING = Sleeping()


@dataclass(frozen=True)
class SendResult:
    """How trying one message ended, and after how many tries (Bot API calls)."""

    ending: Ending
    """Sent, refused, or out of time."""
    message: Message | None = None
    """What sendMessage returned (None for an edit)."""
    error: TelegramError | None = None
    """The last failure met, if any: when refused, the reason."""
    attempts: int = 0

    @property
    def sent(self) -> bool:
        return self.ending is Ending.SENT

    def message_or_raise(self) -> Message | None:
        """The message sent; the error that stopped it otherwise."""
        if self.sent:
            return self.message
        raise self.error or TelegramError("sendMessage", 0, "not sent: no try could start in time")


class Ending(StrEnum):
    """How trying one message ended."""

    SENT = "sent"
    """Telegram took it (an edit also when it would change nothing)."""
    REFUSED = "refused"
    """Telegram refused it, or kept failing past the policy: `error` says how."""
    OUT_OF_TIME = "out_of_time"
    """The pacing let no further try start."""


def message_parts(html: str) -> list[str]:
    """The HTML as replies send it: as it is if its text fits in one message, else split_html_message's parts."""
    if utf16_length(html_to_plain_text(html)) <= TELEGRAM_MESSAGE_LIMIT:
        return [html]
    return split_html_message(html)


@dataclass(frozen=True)
class Sender:
    """Sends and edits messages of Telegram HTML (each within the limit) under one policy and pacing; a message
    Telegram cannot parse goes as its plain text."""

    telegram: TelegramClient
    policy: SendPolicy
    pacing: Pacing = SLEEPING

    def send(self, chat_id: int, html: str, markup: InlineKeyboardMarkup | None = None) -> SendResult:
        """sendMessage with the HTML, `markup` under it."""

        def send(text: str, parse_mode: str | None) -> Message:
            return self.telegram.send_message(chat_id, text, parse_mode=parse_mode, reply_markup=markup)

        return _tried(send, chat_id, html, self.policy, self.pacing)

    def edit(self, chat_id: int, message_id: int, html: str, markup: InlineKeyboardMarkup | None = None) -> SendResult:
        """editMessageText of a message of ours with the HTML, `markup` under it."""

        def edit(text: str, parse_mode: str | None) -> None:
            self.telegram.edit_message_text(chat_id, message_id, text, parse_mode=parse_mode, reply_markup=markup)

        return _tried(edit, chat_id, html, self.policy, self.pacing)

    def send_parts(self, chat_id: int, parts: Sequence[str], markup: InlineKeyboardMarkup | None = None) -> SendResult:
        """Send `parts` (from message_parts) as messages in order, `markup` on the last; stop at the first not sent.

        Returns how the last part tried ended (no parts: sent, after no try).
        """
        result = SendResult(Ending.SENT)
        for index, part in enumerate(parts):
            result = self.send(chat_id, part, markup if index == len(parts) - 1 else None)
            if not result.sent:
                break
        return result


def _tried(
    call: Callable[[str, str | None], Message | None], chat_id: int, html: str, policy: SendPolicy, pacing: Pacing
) -> SendResult:
    """Make `call` with the HTML (then its plain text, if Telegram cannot parse it) until it is taken or the policy
    or the pacing says to stop."""
    attempts = transient_failures = flood_waits = 0
    backoff = policy.backoff
    text = html
    parse_mode: str | None = "HTML"
    error: TelegramError | None = None
    while True:
        if not pacing.may_start(chat_id):
            return SendResult(Ending.OUT_OF_TIME, error=error, attempts=attempts)
        attempts += 1
        try:
            message = call(text, parse_mode)
        except TelegramRetryAfter as failure:
            error, flood_waits = failure, flood_waits + 1
            wait = failure.retry_after or FLOOD_WAIT_WITHOUT_RETRY_AFTER
            too_long = policy.longest_flood_wait is not None and wait > policy.longest_flood_wait
            if too_long or flood_waits > policy.flood_waits:
                return SendResult(Ending.REFUSED, error=failure, attempts=attempts)
            pacing.flood_wait(wait)
        except (TelegramServerError, TelegramNetworkError) as failure:
            error, transient_failures = failure, transient_failures + 1
            if transient_failures >= policy.attempts:
                return SendResult(Ending.REFUSED, error=failure, attempts=attempts)
            pacing.back_off(chat_id, backoff)
            backoff = min(backoff * 2, policy.max_backoff)
        except TelegramBadRequest as failure:
            error = failure
            if failure.is_not_modified:
                return SendResult(Ending.SENT, error=failure, attempts=attempts)
            if not failure.is_parse_error or parse_mode is None:
                return SendResult(Ending.REFUSED, error=failure, attempts=attempts)
            log.warning("Telegram rejected our HTML for chat %s (%s); sending plain text", chat_id, failure.description)
            text, parse_mode = html_to_plain_text(html), None
        except TelegramError as failure:
            return SendResult(Ending.REFUSED, error=failure, attempts=attempts)
        else:
            pacing.sent(chat_id)
            return SendResult(Ending.SENT, message, error, attempts)
