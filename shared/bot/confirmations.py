"""Changes need a tap: propose a change with Confirm / Cancel buttons, run it once when confirmed.

The tap is answered first (Telegram gives a callback query only seconds), then the change runs, then the
message shows how it ended; a Telegram failure after the change ran never turns into an error that invites the
user to ask again. A second tap shows what actually happened.
"""

from __future__ import annotations

import logging
from typing import Literal

from shared.auth.session import Session
from shared.bot import texts
from shared.bot.conversation import Conversation
from shared.crm.tools.changes import Change
from shared.crm.tools.registry import ToolError, confirm_tool_call
from shared.crm.tools.results import Written
from shared.store import audit
from shared.store.errors import StoreError
from shared.store.pending_actions import PendingAction, finish_pending_action, resolve_pending_action
from shared.telegram.errors import TelegramError
from shared.telegram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

log = logging.getLogger(__name__)

KIND = "act"

ANSWERS = {
    "run": None,
    "cancelled": texts.TAP_CANCELLED,
    "expired": texts.CONFIRMATION_EXPIRED,
    "running": texts.CHANGE_RUNNING,
    "done": texts.CHANGE_ALREADY_DONE,
    "failed": texts.CHANGE_NOT_MADE,
    "was_cancelled": texts.CHANGE_WAS_CANCELLED,
    "not_yours": texts.BUTTON_EXPIRED,
    "unknown": texts.BUTTON_EXPIRED,
}
"""What a tap is answered with, by how the pending action took it."""


def ask(conversation: Conversation, action_id: str, change: Change) -> None:
    """Show the preview, every field the change writes, with Confirm / Cancel."""
    conversation.say(change.preview_html(texts.ASKING), markup=_buttons(action_id))


def on_tap(conversation: Conversation, query: CallbackQuery, payload: str) -> None:
    """Confirm or Cancel: checked against the user, the expiry, the account and the current permissions, once."""
    action_id, _, choice = payload.rpartition(":")
    session = conversation.session
    if session is None:
        conversation.answer(query.id, texts.LOG_IN_FIRST)
        return
    resolution, action = resolve_pending_action(action_id, conversation.user.id, confirm=choice == "y")
    conversation.answer(query.id, ANSWERS[resolution])
    message_id = query.message.message_id if query.message is not None else None
    if action is None or resolution in ("running", "not_yours", "unknown"):
        return
    change = Change.model_validate(action.change)
    if resolution == "run":
        outcome, again = _run(session, action_id, action, change)
        _show(conversation, message_id, outcome, _buttons(action_id) if again else None)
    elif resolution in ("cancelled", "was_cancelled"):
        _show(conversation, message_id, change.preview_html(texts.CANCELLED_HEADLINE, ""))
    elif resolution == "expired":
        _show(conversation, message_id, change.preview_html(texts.EXPIRED_HEADLINE, ""))
    elif action.outcome:  # done or failed before: show it again, in case that message was lost
        _show(conversation, message_id, action.outcome)


def _run(session: Session, action_id: str, action: PendingAction, change: Change) -> tuple[str, bool]:
    """Run the confirmed change and record how it ended: what to show, and whether Confirm may be tapped again."""
    result: Written | ToolError
    if (action.crm_user_id, action.org_id, action.role) != (session.crm_user_id, session.org_id, session.role):
        result = ToolError(error=texts.ACCOUNT_CHANGED)
    else:
        result = confirm_tool_call(session.caller(), action.tool, action.args, change, record_id=action_id)
    failure = result if isinstance(result, ToolError) else None
    retry = failure is not None and bool(failure.retryable)
    outcome = _outcome(change, failure, retry)
    state: Literal["done", "failed", "pending"] = "done" if failure is None else "pending" if retry else "failed"
    try:
        if not finish_pending_action(action_id, action, state, outcome):
            log.warning("confirmation %s was taken over by another run before this one ended", action_id)
        audit.record(
            "change_confirmed",
            telegram_user_id=session.telegram_user_id,
            crm_user_id=session.crm_user_id,
            tool=action.tool,
            ok=failure is None,
            outcome=state,
        )
    except StoreError as error:  # the change is made (or not) all the same: say so; it stays `running`
        log.warning("could not record how confirmation %s ended (%s): %s", action_id, state, error)
    return outcome, retry


def _outcome(change: Change, failure: ToolError | None, retry: bool) -> str:
    if failure is None:
        return change.preview_html(texts.DONE_HEADLINE, "")
    reason = failure.reason or texts.NOT_DONE_UNKNOWN
    if retry:
        return texts.not_done_yet(preview_html=change.preview_html(texts.NOT_DONE_YET_HEADLINE, ""), reason=reason)
    return texts.not_done(preview_html=change.preview_html(texts.NOT_DONE_HEADLINE, ""), reason=reason)


def _buttons(action_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=texts.CONFIRM_BUTTON, callback_data=f"{KIND}:{action_id}:y"),
                InlineKeyboardButton(text=texts.CANCEL_CHANGE_BUTTON, callback_data=f"{KIND}:{action_id}:n"),
            ]
        ]
    )


def _show(
    conversation: Conversation, message_id: int | None, html: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Put the outcome in the preview's message (or in a new one when that cannot be edited)."""
    if message_id is None:
        try:
            conversation.say(html, markup=markup)
        except TelegramError as error:
            log.warning("could not tell the outcome of a confirmation: %s", error)
        return
    conversation.edit(message_id, html, markup)
