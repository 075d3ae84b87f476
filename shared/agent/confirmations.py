"""Changes need a tap: propose a change with Confirm / Cancel buttons, run it once when confirmed."""

from __future__ import annotations

from shared.bot import callbacks, texts
from shared.bot.conversation import Conversation
from shared.crm.tools.registry import Caller, ToolResult, call_tool
from shared.store import audit
from shared.store.pending_actions import create_pending_action, resolve_pending_action
from shared.telegram.formatting import escape_html
from shared.telegram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

KIND = "act"


def propose(caller: Caller, tool: str, args: dict[str, object], preview: str) -> str:
    """Store the change; it runs only when this caller taps Confirm."""
    if caller.telegram_user_id is None:
        raise ValueError("a confirmation needs the caller's Telegram user")
    return create_pending_action(caller.telegram_user_id, caller.crm_user_id, tool, dict(args), preview)


def ask(conversation: Conversation, action_id: str, preview: str) -> None:
    """Show the preview with Confirm / Cancel."""
    buttons = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="✅ Confirm", callback_data=f"{KIND}:{action_id}:y"),
                InlineKeyboardButton(text="✖️ Cancel", callback_data=f"{KIND}:{action_id}:n"),
            ]
        ]
    )
    conversation.say(f"❓ {preview}", markup=buttons)


@callbacks.on(KIND)
def on_tap(conversation: Conversation, query: CallbackQuery, payload: str) -> None:
    """Confirm or Cancel: checked against the user, the expiry and the current permissions, once."""
    action_id, _, choice = payload.rpartition(":")
    telegram = conversation.telegram
    session = conversation.session
    if session is None:
        telegram.answer_callback_query(query.id, "Please log in first (/start).")
        return
    resolution, action = resolve_pending_action(action_id, conversation.user.id, confirm=choice == "y")
    message_id = query.message.message_id if query.message is not None else None
    if resolution in ("unknown", "not_yours"):
        telegram.answer_callback_query(query.id, texts.BUTTON_EXPIRED)
        return
    if action is None:
        return
    if resolution == "already_handled":
        telegram.answer_callback_query(query.id, "This action was already handled.")
        return
    if resolution == "expired":
        telegram.answer_callback_query(query.id, "This confirmation has expired. Please ask again.")
        _edit(conversation, message_id, f"⌛ Expired: {action.preview}")
        return
    if resolution == "cancelled":
        telegram.answer_callback_query(query.id, "Cancelled.")
        _edit(conversation, message_id, f"✖️ Cancelled: {action.preview}")
        return
    if action.crm_user_id != session.crm_user_id:
        telegram.answer_callback_query(query.id, texts.BUTTON_EXPIRED)
        return
    result = call_tool(session.caller(), action.tool, action.args)
    audit.record(
        "change_confirmed",
        telegram_user_id=conversation.user.id,
        crm_user_id=session.crm_user_id,
        tool=action.tool,
        ok=bool(result.get("ok")),
    )
    telegram.answer_callback_query(query.id, "Done." if result.get("ok") else "Not done.")
    _edit(conversation, message_id, _result_text(action.preview, result))


def _result_text(preview: str, result: ToolResult) -> str:
    if result.get("ok"):
        summary = result.get("summary")
        return f"✅ Done: {preview}" + (f"\n{escape_html(str(summary))}" if summary else "")
    reason = result.get("detail") or result.get("error") or "it could not be done"
    return f"❌ Not done: {preview}\n{escape_html(str(reason))}"


def _edit(conversation: Conversation, message_id: int | None, html: str) -> None:
    if message_id is None:
        conversation.say(html)
        return
    conversation.telegram.edit_message_text(conversation.chat_id, message_id, html)
