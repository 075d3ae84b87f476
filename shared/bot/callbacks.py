"""Inline-button callbacks: `callback_data` is '<kind>:<payload>', routed to the handler of that kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shared.bot import texts
from shared.bot.conversation import Conversation
from shared.telegram.types import CallbackQuery

CallbackHandler = Callable[[Conversation, CallbackQuery, str], None]


def dispatch(conversation: Conversation, query: CallbackQuery, handlers: Mapping[str, CallbackHandler]) -> None:
    """Run the handler the button's data names; unknown or stale buttons get a short answer."""
    kind, _, payload = (query.data or "").partition(":")
    handler = handlers.get(kind)
    if handler is None:
        conversation.answer(query.id, texts.BUTTON_EXPIRED)
        return
    handler(conversation, query, payload)
