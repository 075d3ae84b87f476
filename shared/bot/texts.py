"""What the bot says, in one place (Telegram HTML)."""

from __future__ import annotations

import datetime as dt

from shared.telegram.formatting import escape_html

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


def role_changed(role: str) -> str:
    return f"ℹ️ Your CRM role is now <b>{escape_html(role)}</b>; your commands have been updated (/help)."


ASK_EMAIL = "📧 Send me your CRM account email address.\n\nExample: <code>john@company.com</code>"

ASK_PASSWORD = (
    "🔑 Please enter your password to complete authentication, or send /cancel to stop.\n\n"
    "For security, I'll delete your password message as soon as I receive it."
)

INVALID_EMAIL = (
    "❌ That doesn't look like an email address. Please send your CRM email, e.g. <code>john@company.com</code>."
)

FLOW_EXPIRED = "⏰ Authentication session expired. Send /start to begin again."

LOGIN_CANCELLED = "👌 Login cancelled. Send /start whenever you want to try again."

NOTHING_TO_CANCEL = "There's nothing to cancel."

PASSWORD_NOT_DELETED = "⚠️ I couldn't delete your password message. Please delete it yourself from this chat."

CODE_INVALID = (
    "❌ This link is invalid, expired or already used. Press <b>Link Telegram</b> on the CRM website "
    "again to get a new one (links work once, for 10 minutes)."
)

ALREADY_LINKED_SAME = "✅ This Telegram account is already linked to your CRM account."


def wrong_credentials(attempts_left: int) -> str:
    plural = "attempt" if attempts_left == 1 else "attempts"
    return f"❌ The email or password is incorrect. {attempts_left} {plural} left.\n\n" + ASK_PASSWORD.split("\n\n")[0]


DELETED_DURING_LOCKOUT = "🗑 I deleted your message in case it was a password: I don't check passwords during a lockout."


def locked_out(minutes: int, ends_at: dt.datetime, website_url: str) -> str:
    """The lockout notice; `ends_at` is in the bot's time zone."""
    website = escape_html(website_url, quote=True)
    return (
        f"🔒 Too many failed login attempts. Please try again in {minutes} minute{'s' if minutes != 1 else ''}, "
        f"at {ends_at:%H:%M %Z}.\n\n"
        "Or log in without a password: press <b>Link Telegram</b> on the CRM website "
        f'(<a href="{website}">{website}</a>); it opens this chat and links it at once.'
    )


def already_linked(name: str) -> str:
    return (
        f"✅ You're already logged in as <b>{escape_html(name)}</b>. Send /logout first if you want to switch accounts."
    )


def code_refused_while_linked(name: str, email: str) -> str:
    return (
        f"⚠️ This Telegram account is already linked to <b>{escape_html(name)}</b> ({escape_html(email)}), so I "
        "didn't use this link. Send /logout first if you want to link another account, then open the link again."
    )


def linked_welcome(name: str) -> str:
    """The first words after linking; the role's help follows."""
    return f"✅ <b>Authentication successful!</b>\n\nWelcome, {escape_html(name)}!\n\n"


def welcome_back(name: str, assistant: bool) -> str:
    ask = "Ask me anything, or send /help." if assistant else "Send /help to see what you can do."
    return f"👋 Welcome back, <b>{escape_html(name)}</b>! {ask}"


def logged_out() -> str:
    return "👋 You're logged out and your conversation history is cleared. Send /start to log in again."
