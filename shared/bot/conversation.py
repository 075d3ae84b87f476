"""What a handler gets: the chat it answers, who is talking, and as which CRM user."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.auth.session import Session
from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramBadRequest
from shared.telegram.formatting import html_to_plain_text, render_reply, split_plain_text
from shared.telegram.types import InlineKeyboardMarkup, Message, User

log = logging.getLogger(__name__)


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
            return self.telegram.send_message(self.chat_id, html, reply_markup=markup)
        except TelegramBadRequest as error:
            if not error.is_parse_error:
                raise
            log.warning("Telegram rejected our HTML (%s); resending as plain text", error.description)
            return self.telegram.send_message(
                self.chat_id, html_to_plain_text(html), parse_mode=None, reply_markup=markup
            )

    def say_markdown(self, markdown: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Send Markdown (a model's reply) as one or more valid Telegram messages; markup goes on the last."""
        parts = render_reply(markdown)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                self.telegram.send_message(self.chat_id, part, reply_markup=markup if last else None)
            except TelegramBadRequest as error:
                if not error.is_parse_error:
                    raise
                log.warning("Telegram rejected a converted reply (%s); sending plain text", error.description)
                plain_parts = split_plain_text(html_to_plain_text(part))
                for plain_index, plain in enumerate(plain_parts):
                    final = last and plain_index == len(plain_parts) - 1
                    self.telegram.send_message(
                        self.chat_id, plain, parse_mode=None, reply_markup=markup if final else None
                    )
