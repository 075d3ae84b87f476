"""What a handler gets: the chat it answers, who is talking, and as which CRM user."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from shared.auth.session import Session
from shared.bot.commands import CommandRegistry
from shared.telegram.client import TelegramClient, send_message_params
from shared.telegram.errors import TelegramError
from shared.telegram.formatting import render_reply
from shared.telegram.send_policy import Sender, SendPolicy, SendResult, message_parts
from shared.telegram.types import InlineKeyboardMarkup, Message, User

log = logging.getLogger(__name__)

REPLIES = SendPolicy(attempts=2, backoff=0.5, max_backoff=0.5, flood_waits=1, longest_flood_wait=5.0)
"""Someone is waiting: one retry, and no flood wait longer than 5 s (a reply that late comes after they gave up)."""


HOLD_SECONDS = 5.0
"""How long after an update arrives its reply may still wait for the webhook's answer. Telegram does not say how
long it waits for that answer (past it, it sends the update again, and the reply would be lost with the first
answer): a reply of slower work (the assistant's) goes by the Bot API."""


@dataclass(frozen=True)
class HeldReply:
    chat_id: int
    html: str
    markup: InlineKeyboardMarkup | None

    def send(self, client: TelegramClient) -> SendResult:
        """Send it by the Bot API after all, as replies are sent."""
        return Sender(client, REPLIES).send(self.chat_id, self.html, self.markup)


class ReplyLost(Exception):
    """A held reply could not be sent when the handler's next Telegram call came. Not that call's failure, so the
    call's own error handling must not take it for one: it ends the update, and the user gets the apology."""

    def __init__(self, held: HeldReply, error: TelegramError) -> None:
        super().__init__(f"a reply to chat {held.chat_id} was lost: {error}")
        self.held = held


@dataclass
class WebhookReply:
    """A reply waiting to go back in the webhook's HTTP answer, which Telegram then sends itself: the user gets it
    without the bot waiting for a Bot API round trip first. Nobody learns whether it was sent, so only a reply whose
    result nothing needs is held: the conversation's last one, of our own HTML, that fits one message, said within
    HOLD_SECONDS of the update's arrival."""

    held: HeldReply | None = None
    open_until: float = field(default_factory=lambda: time.monotonic() + HOLD_SECONDS)

    @property
    def open(self) -> bool:
        """Whether a reply may still wait for the answer (see HOLD_SECONDS)."""
        return time.monotonic() < self.open_until

    def take(self) -> HeldReply | None:
        held, self.held = self.held, None
        return held

    def answer(self) -> dict[str, Any] | None:
        """The webhook's answer that makes Telegram send the held reply, or None when none is held."""
        held = self.take()
        if held is None:
            return None
        return {"method": "sendMessage", **send_message_params(held.chat_id, held.html, reply_markup=held.markup)}


@dataclass
class Conversation:
    """One incoming update's context: reply with say(), change a message of ours with edit(); `commands` are the
    bot's, for the handlers that list or look them up (/help, the menus, the login dialogue)."""

    client: TelegramClient
    commands: CommandRegistry
    chat_id: int
    user: User
    session: Session | None
    message: Message | None = None
    webhook_reply: WebhookReply | None = field(default=None, repr=False)
    """Where the last reply may wait for the webhook's answer; None (long polling, tests) sends every reply."""

    @property
    def telegram(self) -> TelegramClient:
        """The Bot API, for a handler's own calls: a reply waiting for the webhook's answer is sent first, so the
        user sees everything in the order it was done."""
        self.send_held_reply()
        return self.client

    def send_held_reply(self) -> None:
        """Send the reply waiting for the webhook's answer now, because another call comes; ReplyLost if it fails."""
        held = self.webhook_reply.take() if self.webhook_reply is not None else None
        if held is not None:
            try:
                held.send(self.client).message_or_raise()
            except TelegramError as error:
                raise ReplyLost(held, error) from error

    @property
    def audience(self) -> str:
        return self.session.role if self.session else "guest"

    @property
    def _sender(self) -> Sender:
        return Sender(self.telegram, REPLIES)

    def require_session(self) -> Session:
        """The session of a handler whose command is for linked users only (the router checked it)."""
        if self.session is None:
            raise RuntimeError("a linked-only handler ran without a session")
        return self.session

    def say(self, html: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Send Telegram HTML of ours, split into messages within Telegram's limit, markup on the last.

        A reply that fits one message waits for the webhook's answer when there is one (see WebhookReply), until
        the handler next calls Telegram. Otherwise a part Telegram cannot parse goes as plain text.
        """
        parts = message_parts(html)
        if self.webhook_reply is not None and self.webhook_reply.open and len(parts) == 1:
            self.send_held_reply()
            self.webhook_reply.held = HeldReply(self.chat_id, parts[0], markup)
            return
        self._sender.send_parts(self.chat_id, parts, markup).message_or_raise()

    def edit(self, message_id: int, html: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Replace a message's text with Telegram HTML; never raises a Telegram error (ReplyLost, see telegram).

        Text longer than one message: the first part replaces the message and the rest follow as new messages.
        When Telegram refuses the edit (too old, deleted, down), the text is sent as new messages instead; if
        that fails too, it is logged: the caller's work is done, and losing its reply must not look like failure.
        """
        first, *rest = message_parts(html)
        edited = self._sender.edit(self.chat_id, message_id, first, None if rest else markup)
        if not edited.sent:
            log.info("message %s not edited (%s); sending the text as a new message", message_id, edited.error)
            rest = [first, *rest]
        sent = self._sender.send_parts(self.chat_id, rest, markup)
        if not sent.sent:
            log.warning("a reply to chat %s was lost: %s", self.chat_id, sent.error)

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
        """Send Markdown (a model's reply) as one or more valid Telegram messages; markup goes on the last. Never
        held for the webhook's answer: the model's text may still need the plain-text fallback."""
        self._sender.send_parts(self.chat_id, render_reply(markdown), markup).message_or_raise()
