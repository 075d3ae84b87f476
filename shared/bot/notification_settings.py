"""/notifications: a linked user chooses which status notifications they get, with inline buttons.

Buttons carry `notif:<all|group>:<on|off>` (the state to set, not a toggle, so a double tap or an old
message cannot flip a setting back); each tap saves the link's preferences and edits the message in place.
"""

from __future__ import annotations

from shared.bot import texts
from shared.bot.conversation import Conversation
from shared.store import audit, links
from shared.store.links import NOTIFICATION_GROUPS, NotificationPreferences
from shared.telegram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

CALLBACK_KIND = "notif"


def settings_text(preferences: NotificationPreferences) -> str:
    """The settings message: what is on and off."""
    if not preferences.enabled:
        return texts.NOTIFICATIONS_OFF
    return texts.notification_settings(wanted={group: preferences.wants(group) for group in NOTIFICATION_GROUPS})


def settings_markup(preferences: NotificationPreferences) -> InlineKeyboardMarkup:
    """One button per group (showing its state, setting the opposite) and one for all."""
    if not preferences.enabled:
        return InlineKeyboardMarkup(inline_keyboard=[[_button(texts.TURN_ALL_ON, "all", True)]])
    rows = []
    for group in NOTIFICATION_GROUPS:  # a button says what it does: 🔕 turns off, 🔔 turns on, everywhere
        on = preferences.wants(group)
        label = texts.turn_group_off(group=group) if on else texts.turn_group_on(group=group)
        rows.append([_button(label, group, not on)])
    rows.append([_button(texts.TURN_ALL_OFF, "all", False)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def changed(preferences: NotificationPreferences, target: str, on: bool) -> NotificationPreferences:
    """The preferences after setting `target` ('all' or a group) on or off."""
    if target == "all":
        return NotificationPreferences(enabled=on, muted_groups=[] if on else list(preferences.muted_groups))
    muted = [group for group in preferences.muted_groups if group != target]
    if not on:
        muted.append(target)
    return NotificationPreferences(enabled=preferences.enabled, muted_groups=sorted(muted))


def notifications_command(conversation: Conversation, argument: str) -> None:
    preferences = conversation.require_session().link.notifications
    conversation.say(settings_text(preferences), settings_markup(preferences))


def on_settings_button(conversation: Conversation, query: CallbackQuery, payload: str) -> None:
    session = conversation.session
    if session is None:
        conversation.answer(query.id, texts.NOT_LINKED)
        return
    target, _, state = payload.partition(":")
    if target not in ("all", *NOTIFICATION_GROUPS) or state not in ("on", "off") or query.message is None:
        conversation.answer(query.id, texts.BUTTON_EXPIRED)
        return
    preferences = links.change_notifications(
        session.telegram_user_id, lambda stored: changed(stored, target, state == "on")
    )
    if preferences is None:  # logged out meanwhile
        conversation.answer(query.id, texts.NOT_LINKED)
        return
    audit.record(
        "notifications_changed",
        telegram_user_id=session.telegram_user_id,
        crm_user_id=session.crm_user_id,
        enabled=preferences.enabled,
        muted_groups=preferences.muted_groups,
    )
    conversation.answer(query.id, texts.SAVED)
    conversation.edit(query.message.message_id, settings_text(preferences), settings_markup(preferences))


def _button(text: str, target: str, on: bool) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=f"{CALLBACK_KIND}:{target}:{'on' if on else 'off'}")
