"""Account and help commands, registered in the command registry."""

from __future__ import annotations

from shared.auth import link_codes, login, menus
from shared.bot import texts
from shared.bot.commands import GUEST, registry
from shared.bot.conversation import Conversation
from shared.bot.help import guest_help, role_help
from shared.config import get_settings
from shared.roles import EVERYONE
from shared.store import history
from shared.telegram.formatting import escape_html

ANYONE = {GUEST, *EVERYONE}


@registry.command("start", "Start: log in, or see what I can do", ANYONE)
def start(conversation: Conversation, argument: str) -> None:
    if argument:
        link_codes.redeem_link_code(conversation, argument)
    elif conversation.session is not None:
        conversation.say(texts.welcome_back(conversation.session.user.name, get_settings().assistant_configured))
    else:
        login.start_login(conversation, greeting=texts.WELCOME)


@registry.command("help", "Show help and examples", ANYONE)
def help_command(conversation: Conversation, argument: str) -> None:
    session = conversation.session
    conversation.say(guest_help() if session is None else "ℹ️ <b>Help</b>\n\n" + role_help(session.role))


@registry.command("login", "Log in with your CRM email and password", {GUEST})
def login_command(conversation: Conversation, argument: str) -> None:
    login.start_login(conversation, argument)


@registry.command("link", "Link your CRM account (same as /login)", {GUEST})
def link_command(conversation: Conversation, argument: str) -> None:
    login.start_login(conversation, argument)


@registry.command("me", "View your account information", EVERYONE)
def me(conversation: Conversation, argument: str) -> None:
    session = conversation.require_session()
    user, link = session.user, session.link
    conversation.say(
        "👤 <b>Your account</b>\n\n"
        f"Name: {escape_html(user.name)}\n"
        f"Email: {escape_html(user.email)}\n"
        f"Role: {escape_html(user.role.value)}\n"
        f"Organisation: {escape_html(user.org_name or user.org_id)}\n"
        f"Linked since: {link.linked_at:%Y-%m-%d %H:%M} UTC"
    )


@registry.command("logout", "Log out from the bot", EVERYONE, aliases=("unlink",))
def logout(conversation: Conversation, argument: str) -> None:
    session = conversation.require_session()
    menus.end_session(conversation.telegram, session.link, reason="logout")
    conversation.say(texts.logged_out())


@registry.command("clear", "Clear conversation history", EVERYONE)
def clear(conversation: Conversation, argument: str) -> None:
    history.forget_conversation(conversation.user.id)
    conversation.say("🧹 Conversation history cleared.")


def answer_free_text(conversation: Conversation, text: str) -> None:
    """A linked user's plain message: the assistant answers it (imported here: only this path needs Gemini)."""
    from shared.bot import assistant

    assistant.answer(conversation, text)
