"""What a handler gets: the chat it answers, who is talking, and as which CRM user."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from shared.auth.session import Session
from shared.telegram.client import TelegramClient
from shared.telegram.errors import (
    TelegramBadRequest,
    TelegramError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from shared.telegram.formatting import (
    TELEGRAM_MESSAGE_LIMIT,
    html_to_plain_text,
    render_reply,
    split_html_message,
    split_plain_text,
    utf16_length,
)
from shared.telegram.types import InlineKeyboardMarkup, Message, User

log = logging.getLogger(__name__)

SEND_ATTEMPTS = 2
MAX_FLOOD_WAIT_SECONDS = 5.0  # a reply that must wait longer would arrive after the user gave up
TRANSIENT_PAUSE_SECONDS = 0.5

Params = ParamSpec("Params")
Result = TypeVar("Result")


@dataclass
class Conversation:
    """One incoming update's context: reply with say(), change a message of ours with edit()."""

    telegram: TelegramClient
    chat_id: int
    user: User
    session: Session | None
    message: Message | None = None

    @property
    def audience(self) -> str:
        return self.session.role if self.session else "guest"

    def require_session(self) -> Session:
        """The session of a handler whose command is for linked users only (the router checked it)."""
        if self.session is None:
            raise RuntimeError("a linked-only handler ran without a session")
        return self.session

    def say(self, html: str, markup: InlineKeyboardMarkup | None = None) -> Message | None:
        """Send Telegram HTML, split into messages within Telegram's limit, markup on the last.

        A part Telegram cannot parse goes as plain text. Returns the last message sent.
        """
        return self._say_parts(_message_parts(html), markup)

    def edit(self, message_id: int, html: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Replace a message's text with Telegram HTML; never raises a Telegram error.

        Text longer than one message: the first part replaces the message and the rest follow as new messages.
        When Telegram refuses the edit (too old, deleted, down), the text is sent as new messages instead; if
        that fails too, it is logged: the caller's work is done, and losing its reply must not look like failure.
        """
        first, *rest = _message_parts(html)
        try:
            self._edit_part(message_id, first, None if rest else markup)
        except TelegramError as error:
            log.info("message %s not edited (%s); sending the text as a new message", message_id, error)
            rest = [first, *rest]
        try:
            self._say_parts(rest, markup)
        except TelegramError as error:
            log.warning("a reply to chat %s was lost: %s", self.chat_id, error)

    def drop_buttons(self, message_id: int) -> None:
        """Take the buttons off a message of ours whose buttons are spent; a failure only leaves them there."""
        try:
            self.telegram.edit_message_reply_markup(self.chat_id, message_id)
        except TelegramError as error:
            log.info("the buttons of message %s stay: %s", message_id, error)

    def answer(self, query_id: str, text: str | None = None) -> None:
        """Answer a button tap (stop its spinner, show a short notice); never raises a Telegram error: a lost answer
        only leaves the spinner turning a little longer, and the tap's work must not look failed because of it."""
        try:
            self.telegram.answer_callback_query(query_id, text)
        except TelegramError as error:
            log.warning("could not answer a button tap: %s", error)

    def say_markdown(self, markdown: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Send Markdown (a model's reply) as one or more valid Telegram messages; markup goes on the last."""
        parts = render_reply(markdown)
        for index, part in enumerate(parts):
            self.say(part, markup if index == len(parts) - 1 else None)

    def _say_parts(self, parts: list[str], markup: InlineKeyboardMarkup | None) -> Message | None:
        sent = None
        for index, part in enumerate(parts):
            sent = self._say_part(part, markup if index == len(parts) - 1 else None)
        return sent

    def _say_part(self, html: str, markup: InlineKeyboardMarkup | None) -> Message | None:
        try:
            return self._send(html, "HTML", markup)
        except TelegramBadRequest as error:
            if not error.is_parse_error:
                raise
            log.warning("Telegram rejected our HTML (%s); resending as plain text", error.description)
        plain_parts = split_plain_text(html_to_plain_text(html))
        sent = None
        for index, plain in enumerate(plain_parts):
            sent = self._send(plain, None, markup if index == len(plain_parts) - 1 else None)
        return sent

    def _edit_part(self, message_id: int, html: str, markup: InlineKeyboardMarkup | None) -> None:
        """editMessageText with the HTML, or its plain text if Telegram cannot parse it; unchanged is done."""
        for text, parse_mode in ((html, "HTML"), (html_to_plain_text(html), None)):
            try:
                edit = self.telegram.edit_message_text
                self._retrying(edit, self.chat_id, message_id, text, parse_mode=parse_mode, reply_markup=markup)
                return
            except TelegramBadRequest as error:
                if error.is_not_modified:
                    return
                if not error.is_parse_error or parse_mode is None:
                    raise
                log.warning("Telegram rejected our HTML (%s); editing as plain text", error.description)

    def _send(self, text: str, parse_mode: str | None, markup: InlineKeyboardMarkup | None) -> Message:
        send = self.telegram.send_message
        return self._retrying(send, self.chat_id, text, parse_mode=parse_mode, reply_markup=markup)

    @staticmethod
    def _retrying(call: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs) -> Result:
        """A Bot API call, waiting out a short flood limit and retrying one transient failure."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                return call(*args, **kwargs)
            except TelegramRetryAfter as error:
                wait = error.retry_after or 1.0
                if wait > MAX_FLOOD_WAIT_SECONDS or attempt + 1 == SEND_ATTEMPTS:
                    raise
                time.sleep(wait)
            except (TelegramServerError, TelegramNetworkError):
                if attempt + 1 == SEND_ATTEMPTS:
                    raise
                time.sleep(TRANSIENT_PAUSE_SECONDS)
        raise AssertionError("unreachable")


def _message_parts(html: str) -> list[str]:
    """The HTML as it goes out: as it is if its text fits in one message, else split_html_message's parts."""
    if utf16_length(html_to_plain_text(html)) <= TELEGRAM_MESSAGE_LIMIT:
        return [html]
    return split_html_message(html)
