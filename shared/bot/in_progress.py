"""What a user can have in progress (a login, a /support draft), and /cancel, which asks each kind to cancel itself."""

from __future__ import annotations

from collections.abc import Callable

from shared.bot import login_dialogue, texts
from shared.bot.conversation import Conversation
from shared.crm import support_drafts

Canceller = Callable[[Conversation], str | None]
"""Cancels one kind of thing in progress if the conversation has one: what to tell the user, or None."""


def cancel_support_draft(conversation: Conversation) -> str | None:
    """A /support waiting for the problem's description: no ticket is opened."""
    session = conversation.session
    if session is None or not support_drafts.draft_waiting(session.link):
        return None
    return texts.SUPPORT_CANCELLED if support_drafts.take_draft(session.telegram_user_id) else None


CANCELLERS: tuple[Canceller, ...] = (login_dialogue.cancel_login, cancel_support_draft)
"""Every kind of thing in progress; a new multi-step command adds its canceller here."""


def cancel_everything(conversation: Conversation) -> list[str]:
    """Cancel whatever the user has in progress; what was cancelled, to tell them (empty when nothing was)."""
    return [said for cancel in CANCELLERS if (said := cancel(conversation)) is not None]


def cancel_command(conversation: Conversation, argument: str) -> None:
    cancelled = cancel_everything(conversation)
    conversation.say("\n\n".join(cancelled) if cancelled else texts.NOTHING_TO_CANCEL)
