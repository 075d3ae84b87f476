"""What a handler gets: the chat it answers, who is talking, and as which CRM user."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shared.auth.session import Session
from shared.telegram.client import TelegramClient
from shared.telegram.errors import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from shared.telegram.formatting import html_to_plain_text, render_reply, split_plain_text
from shared.telegram.types import InlineKeyboardMarkup, Message, User

log = logging.getLogger(__name__)

SEND_ATTEMPTS = 2
MAX_FLOOD_WAIT_SECONDS = 5.0  # a reply that must wait longer would arrive after the user gave up
TRANSIENT_PAUSE_SECONDS = 0.5


@dataclass
class Conversation:
    """One incoming update's context: reply with say()."""

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
        """Send a Telegram-HTML message; falls back to plain text if Telegram cannot parse it."""
        try:
            return self._send(html, "HTML", markup)
        except TelegramBadRequest as error:
            if not error.is_parse_error:
                raise
            log.warning("Telegram rejected our HTML (%s); resending as plain text", error.description)
        sent = None
        plain_parts = split_plain_text(html_to_plain_text(html))
        for index, plain in enumerate(plain_parts):
            sent = self._send(plain, None, markup if index == len(plain_parts) - 1 else None)
        return sent

    def say_markdown(self, markdown: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Send Markdown (a model's reply) as one or more valid Telegram messages; markup goes on the last."""
        parts = render_reply(markdown)
        for index, part in enumerate(parts):
            self.say(part, markup if index == len(parts) - 1 else None)

    def _send(self, text: str, parse_mode: str | None, markup: InlineKeyboardMarkup | None) -> Message:
        """sendMessage, waiting out a short flood limit and retrying one transient failure."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                return self.telegram.send_message(self.chat_id, text, parse_mode=parse_mode, reply_markup=markup)
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
