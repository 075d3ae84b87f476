"""Everything the bot says, in one place: Telegram HTML unless a section says plain text.

A text with values is a function with keyword-only parameters. It fills one template of whole sentences with
named {placeholders} through _fill (or _plural, for a count), the one place a translation would be looked up, and
escapes the values itself; a parameter whose name ends in _html is HTML already (another text, or a preview).
"""

from __future__ import annotations

import datetime as dt

from shared.telegram.formatting import escape_html


def _fill(template: str, **values: object) -> str:
    """The template with its named placeholders filled in."""
    return template.format(**values)


def _plural(count: int, one: str, other: str, **values: object) -> str:
    """`one` for a count of 1, `other` for any other (English plural rules), filled in."""
    return (one if count == 1 else other).format(**values)


# Any update: the router's answers

PRIVATE_ONLY = (
    "🔒 I only work in a private chat, to keep your CRM data private. Open a private chat with me to continue."
)

NOT_LINKED = "🔐 You're not logged in yet. Send /start to link your CRM account."

UNKNOWN_COMMAND = "🤔 I don't know that command. Send /help to see what I can do."

NOT_FOR_YOUR_ROLE = "⛔ That command isn't available for your account. Send /help to see yours."

TEXT_ONLY = "📝 I can only read text messages. Please type what you need."

EDITED_IGNORED = "✏️ I don't act on edited messages. Please send your request again as a new message."

BUTTON_EXPIRED = "This button has expired."

SOMETHING_WENT_WRONG = "⚠️ Something went wrong on my side. Please try again in a moment."

DEACTIVATED = (
    "🔒 Your CRM account is no longer active, so I've logged you out of this chat. "
    "Contact your administrator if you think this is a mistake."
)


def role_changed(*, role: str) -> str:
    return _fill(
        "ℹ️ Your CRM role is now <b>{role}</b>; your commands have been updated (/help).", role=escape_html(role)
    )


# Logging in and linking

WELCOME = (
    "👋 <b>Welcome to the CRM bot!</b>\n\n"
    "Once you're logged in, I can help you:\n"
    "• View and manage deals and leads\n"
    "• Track customers\n"
    "• Open support issues\n"
    "• Follow your orders and files\n"
    "• See statistics\n\n"
    "🔐 To get started, please log in: send me your CRM account email address.\n\n"
    "Example: <code>john@company.com</code>"
)

ASK_EMAIL = "📧 Send me your CRM account email address.\n\nExample: <code>john@company.com</code>"

_ENTER_PASSWORD = "🔑 Please enter your password to complete authentication, or send /cancel to stop."

ASK_PASSWORD = f"{_ENTER_PASSWORD}\n\nFor security, I'll delete your password message as soon as I receive it."

INVALID_EMAIL = (
    "❌ That doesn't look like an email address. Please send your CRM email, e.g. <code>john@company.com</code>."
)

FLOW_EXPIRED = "⏰ Authentication session expired. Send /start to begin again."

LOGIN_CANCELLED = "👌 Login cancelled. Send /start whenever you want to try again."

PASSWORD_NOT_DELETED = "⚠️ I couldn't delete your password message. Please delete it yourself from this chat."

CODE_INVALID = (
    "❌ This link is invalid, expired or already used. Press <b>Link Telegram</b> on the CRM website "
    "again to get a new one (links work once, for 10 minutes)."
)

ALREADY_LINKED_SAME = "✅ This Telegram account is already linked to your CRM account."

DELETED_DURING_LOCKOUT = "🗑 I deleted your message in case it was a password: I don't check passwords during a lockout."


def wrong_credentials(*, attempts_left: int) -> str:
    wrong = _plural(
        attempts_left,
        "❌ The email or password is incorrect. {attempts_left} attempt left.",
        "❌ The email or password is incorrect. {attempts_left} attempts left.",
        attempts_left=attempts_left,
    )
    return f"{wrong}\n\n{_ENTER_PASSWORD}"


def locked_out(*, minutes: int, ends_at: dt.datetime, website_url: str) -> str:
    """The lockout notice; `ends_at` is in the bot's time zone."""
    wait = _plural(
        minutes,
        "🔒 Too many failed login attempts. Please try again in {minutes} minute, at {ends_at:%H:%M %Z}.",
        "🔒 Too many failed login attempts. Please try again in {minutes} minutes, at {ends_at:%H:%M %Z}.",
        minutes=minutes,
        ends_at=ends_at,
    )
    link = _fill(
        "Or log in without a password: press <b>Link Telegram</b> on the CRM website "
        '(<a href="{website}">{website}</a>); it opens this chat and links it at once.',
        website=escape_html(website_url, quote=True),
    )
    return f"{wait}\n\n{link}"


def already_linked(*, name: str) -> str:
    return _fill(
        "✅ You're already logged in as <b>{name}</b>. Send /logout first if you want to switch accounts.",
        name=escape_html(name),
    )


def code_refused_while_linked(*, name: str, email: str) -> str:
    return _fill(
        "⚠️ This Telegram account is already linked to <b>{name}</b> ({email}), so I didn't use this link. "
        "Send /logout first if you want to link another account, then open the link again.",
        name=escape_html(name),
        email=escape_html(email),
    )


def linked_welcome(*, name: str, help_html: str) -> str:
    """The first words after linking, then the role's help."""
    return _fill(
        "✅ <b>Authentication successful!</b>\n\nWelcome, {name}!\n\n{help}", name=escape_html(name), help=help_html
    )


def welcome_back(*, name: str, assistant: bool) -> str:
    if assistant:
        return _fill("👋 Welcome back, <b>{name}</b>! Ask me anything, or send /help.", name=escape_html(name))
    return _fill("👋 Welcome back, <b>{name}</b>! Send /help to see what you can do.", name=escape_html(name))


# The account: /me, /logout, /clear, /cancel


LOGGED_OUT = "👋 You're logged out and your conversation history is cleared. Send /start to log in again."

NOTHING_TO_CANCEL = "There's nothing to cancel."
