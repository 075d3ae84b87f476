"""The account commands (/start, /login, /me, /logout, /clear...) and /help."""

from __future__ import annotations

from shared.auth import link_codes
from shared.bot import login_dialogue, menus, texts
from shared.bot.conversation import Conversation
from shared.bot.help import guest_help, role_help
from shared.config import get_settings
from shared.store import history


def start(conversation: Conversation, argument: str) -> None:
    if argument:
        redeem_link_code(conversation, argument)
    elif conversation.session is not None:
        conversation.say(
            texts.welcome_back(name=conversation.session.user.name, assistant=get_settings().assistant_configured)
        )
    else:
        login_dialogue.start_login(conversation, greeting=texts.WELCOME)


def help_command(conversation: Conversation, argument: str) -> None:
    session = conversation.session
    if session is None:
        conversation.say(guest_help(conversation.commands))
    else:
        conversation.say(texts.help_page(body_html=role_help(conversation.commands, session.role)))


def login_command(conversation: Conversation, argument: str) -> None:
    login_dialogue.start_login(conversation, argument)


def link_command(conversation: Conversation, argument: str) -> None:
    login_dialogue.start_login(conversation, argument)


def me(conversation: Conversation, argument: str) -> None:
    session = conversation.require_session()
    user, link = session.user, session.link
    conversation.say(
        texts.account(
            name=user.name,
            email=user.email,
            role=user.role.value,
            organisation=user.org_name or user.org_id,
            linked_at=link.linked_at,
        )
    )


def logout(conversation: Conversation, argument: str) -> None:
    session = conversation.require_session()
    menus.end_session(conversation.telegram, session.link, reason="logout")
    conversation.say(texts.LOGGED_OUT)


def clear(conversation: Conversation, argument: str) -> None:
    history.forget_conversation(conversation.user.id)
    conversation.say(texts.HISTORY_CLEARED)


def redeem_link_code(conversation: Conversation, code: str) -> None:
    """/start with a code from the CRM website: link the chat's Telegram user, once; anything else changes nothing."""
    session = conversation.session
    if session is not None:
        refusal = link_codes.refuse_while_linked(conversation.user.id, session.link, code)
        if refusal is link_codes.RefusalWhileLinked.SAME_ACCOUNT:
            conversation.say(texts.ALREADY_LINKED_SAME)
        elif refusal is link_codes.RefusalWhileLinked.OTHER_ACCOUNT:
            conversation.say(texts.code_refused_while_linked(name=session.link.name, email=session.link.email))
        else:
            conversation.say(texts.CODE_INVALID)
        return
    link = link_codes.redeem(login_dialogue.account_of(conversation), code)
    if link is None:
        conversation.say(texts.CODE_INVALID)
        return
    menus.after_link(conversation, link)


def answer_free_text(conversation: Conversation, text: str) -> None:
    """A linked user's plain message: the assistant answers it (imported here: only this path needs Gemini)."""
    from shared.bot import assistant

    assistant.answer(conversation, text)
