"""Everything the bot says, in one place: Telegram HTML unless a section says plain text.

A text with values is a function with keyword-only parameters. It fills one template of whole sentences with
named {placeholders} through _fill (or _plural, for a count), the one place a translation would be looked up, and
escapes the values itself; a parameter whose name ends in _html is HTML already (another text, or a preview).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from shared.roles import Role
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

CRM_UNREACHABLE = "⚠️ I can't reach the CRM right now. Please try again in a minute."

CRM_BUSY = "⏳ The CRM is busy right now. Please try again in a minute."

DEACTIVATED = (
    "🔒 Your CRM account is no longer active, so I've logged you out of this chat. "
    "Contact your administrator if you think this is a mistake."
)


def role_changed(*, role: str) -> str:
    return _fill(
        "ℹ️ Your CRM role is now <b>{role}</b>; your commands have been updated (/help).", role=escape_html(role)
    )


# The command menu (plain text: /help escapes the descriptions) and /help

CHANGE_EXAMPLES = {
    "newlead": "/newlead Jane Doe, LinkedIn, jane@mail.example",
    "customer": "/customer Bob Buyer, bob@b.example",
    "newdeal": "/newdeal Fleet deal, 12000 EUR, customer 3",
    "stage": "/stage 5 negotiation",
    "status": "/status lead 4 lost",
    "issue": "/issue Login fails, since the update",
    "payment": "/payment 3 5000 card",
    "assign": "/assign lead 4 ed@demo.example",
    "delete": "/delete deal 5",
}
"""A change command's example line, in its description and in the answer to a line it cannot read."""

COMMAND_DESCRIPTIONS = {
    "start": "Start: log in, or see what I can do",
    "help": "Show help and examples",
    "login": "Log in with your CRM email and password",
    "link": "Link your CRM account (same as /login)",
    "me": "View your account information",
    "logout": "Log out from the bot",
    "clear": "Clear conversation history",
    "orders": "View recent orders",
    "files": "View recent files and their status",
    "deals": "Open deals (an employee's: their own)",
    "leads": "Open leads (an employee's: their own)",
    "stats": "Statistics of a period and the pipeline now, e.g. /stats last_month",
    "newlead": _fill("Add a lead, e.g. {example}", example=CHANGE_EXAMPLES["newlead"]),
    "customer": _fill("Add a customer, e.g. {example}", example=CHANGE_EXAMPLES["customer"]),
    "newdeal": _fill("Create a deal, e.g. {example}", example=CHANGE_EXAMPLES["newdeal"]),
    "stage": _fill("Move a deal to another stage, e.g. {example}", example=CHANGE_EXAMPLES["stage"]),
    "status": _fill("Change a lead's or issue's status, e.g. {example}", example=CHANGE_EXAMPLES["status"]),
    "issue": _fill("Open a support issue, e.g. {example}", example=CHANGE_EXAMPLES["issue"]),
    "payment": _fill("Record a payment, e.g. {example}", example=CHANGE_EXAMPLES["payment"]),
    "assign": _fill("Assign a record, e.g. {example}", example=CHANGE_EXAMPLES["assign"]),
    "delete": _fill("Delete a record, e.g. {example}", example=CHANGE_EXAMPLES["delete"]),
    "support": "Contact support or open a support ticket",
    "notifications": "Choose which notifications you get",
    "cancel": "Cancel what's in progress (a login, a support request)",
}
"""What each command does, by its name: in the command menu and in /help."""

ASSISTANT_EXAMPLES: dict[Role, tuple[str, ...]] = {
    Role.VENDOR: (
        "Show my open deals",
        "Create a lead named Jane from LinkedIn",
        "Move my newest deal to negotiation",
        "What's our conversion rate this month?",
    ),
    Role.EMPLOYEE: (
        "Show my deals",
        "Which of my customers have open issues?",
        "Create a lead named John from Facebook",
        "Show statistics for this month",
    ),
    Role.CUSTOMER: (
        "Where is my latest order?",
        "Show my files",
        "Open a support issue about login problems",
        "Show my payments",
    ),
}
"""Questions for the assistant that name no record: they work for anyone of the role, whatever their data."""


def command_line(*, name: str, aliases: Sequence[str], description: str) -> str:
    """A command in /help: '/logout, /unlink — Log out from the bot'."""
    names = ", ".join(_fill("/{name}", name=escape_html(each)) for each in (name, *aliases))
    return _fill("{names} — {description}", names=names, description=escape_html(description))


def help_page(*, body_html: str) -> str:
    return _fill("ℹ️ <b>Help</b>\n\n{body}", body=body_html)


def help_for_guest(*, commands_html: str) -> str:
    return _fill(
        "{commands}\n\nYou can also use the <b>Link Telegram</b> button on the CRM website: it opens this chat and "
        "links you without typing a password here.",
        commands=commands_html,
    )


def help_for_role(*, commands_html: str) -> str:
    return _fill("<b>Commands</b>\n{commands}", commands=commands_html)


def help_for_role_with_examples(*, commands_html: str, examples: Sequence[str]) -> str:
    listed = "\n".join(_fill("• {example}", example=escape_html(example)) for example in examples)
    return _fill(
        "<b>Commands</b>\n{commands}\n\n<b>Or just ask me</b>, for example:\n{examples}",
        commands=commands_html,
        examples=listed,
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

PASSWORD_NOT_CHECKED = (
    "⚠️ I couldn't reach the CRM to check your password, so this attempt doesn't count. Please send it again in a "
    "minute, or /cancel."
)

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


def account(*, name: str, email: str, role: str, organisation: str, linked_at: dt.datetime) -> str:
    """/me; `linked_at` is in UTC."""
    return _fill(
        "👤 <b>Your account</b>\n\n"
        "Name: {name}\n"
        "Email: {email}\n"
        "Role: {role}\n"
        "Organisation: {organisation}\n"
        "Linked since: {linked_at:%Y-%m-%d %H:%M} UTC",
        name=escape_html(name),
        email=escape_html(email),
        role=escape_html(role),
        organisation=escape_html(organisation),
        linked_at=linked_at,
    )


LOGGED_OUT = "👋 You're logged out and your conversation history is cleared. Send /start to log in again."

HISTORY_CLEARED = "🧹 Conversation history cleared."

NOTHING_TO_CANCEL = "There's nothing to cancel."


# Lists: /orders, /files, /deals, /leads

ORDER_STATUS = {
    "pending": ("🕐", "Pending"),
    "confirmed": ("📋", "Confirmed"),
    "paid": ("💳", "Paid"),
    "shipped": ("🚚", "Shipped"),
    "delivered": ("📦", "Delivered"),
    "cancelled": ("❌", "Cancelled"),
}
UNKNOWN_ORDER_STATUS = "❔"
"""The emoji of an order status not above (its label is the status as the CRM wrote it)."""

FILE_STATUS = {
    "received": ("📥", "Received"),
    "processing": ("⏳", "Processing"),
    "ready": ("✅", "Ready"),
}
UNKNOWN_FILE_STATUS = "📄"

DEAL_STAGE = {
    "prospecting": "🔍 Prospecting",
    "qualification": "🧐 Qualification",
    "proposal": "📝 Proposal",
    "negotiation": "🤝 Negotiation",
    "closed_won": "🏆 Won",
    "closed_lost": "🚫 Lost",
}
LEAD_STATUS = {
    "new": "🆕 New",
    "contacted": "📞 Contacted",
    "qualified": "⭐ Qualified",
    "lost": "🚫 Lost",
    "converted": "🎉 Converted",
}
DEAL_EMOJI = "💼"
LEAD_EMOJI = "👤"

ORDER_LIST = {
    Role.CUSTOMER: ("🧾 <b>Your orders</b>", "You have no orders yet."),
    Role.EMPLOYEE: ("🧾 <b>Orders of your customers</b>", "Your customers have no orders yet."),
    Role.VENDOR: ("🧾 <b>Recent orders</b>", "There are no orders yet."),
}
"""The title of a list, and what it says when there is nothing in it, by role."""
FILE_LIST = {
    Role.CUSTOMER: ("📁 <b>Your files</b>", "You have no files yet."),
    Role.EMPLOYEE: ("📁 <b>Files of your customers</b>", "Your customers have no files yet."),
    Role.VENDOR: ("📁 <b>Recent files</b>", "There are no files yet."),
}
DEAL_LIST = {
    Role.EMPLOYEE: ("💼 <b>Your open deals</b>", "You have no open deals."),
    Role.VENDOR: ("💼 <b>Open deals</b> (everyone's)", "There are no open deals."),
}
LEAD_LIST = {
    Role.EMPLOYEE: ("👤 <b>Your open leads</b>", "You have no open leads."),
    Role.VENDOR: ("👤 <b>Open leads</b> (everyone's)", "There are no open leads."),
}

LIST_END = "That's all."

MORE_BUTTON = "More ⬇️"


def list_continued(*, title_html: str) -> str:
    """The title of a list's next page."""
    return _fill("{title} (continued)", title=title_html)


def list_heading(*, emoji: str, reference: str, label: str) -> str:
    """A record's first line in a list: 'Order #7 · Shipped'."""
    return _fill(
        "{emoji} <b>{reference}</b> · {label}", emoji=emoji, reference=escape_html(reference), label=escape_html(label)
    )


def list_entry(*, heading_html: str, details: Sequence[str]) -> str:
    """A record in a list: its heading, then on a second line the details it has (plain text; '' for none)."""
    shown = " · ".join(escape_html(detail) for detail in details if detail)
    return _fill("{heading}\n    {details}", heading=heading_html, details=shown) if shown else heading_html


def with_comment(*, entry_html: str, comment: str) -> str:
    """A file in a list with the staff's comment on it."""
    return _fill("{entry}\n    💬 <i>{comment}</i>", entry=entry_html, comment=escape_html(comment))


# The details of a list entry (plain text: list_entry escapes them)


def list_customer(*, name: str) -> str:
    return _fill("👥 {name}", name=name)


def list_eta(*, eta: str) -> str:
    """When a file should be ready: a time from list_time, or what the CRM wrote instead of one."""
    return _fill("ETA {eta}", eta=eta)


def list_date(*, day: dt.datetime) -> str:
    return _fill("{day:%d %b %Y}", day=day)


def list_time(*, moment: dt.datetime) -> str:
    return _fill("{moment:%d %b %H:%M}", moment=moment)


# /stats


def stats_usage(*, periods: Sequence[str]) -> str:
    return _fill("✏️ Say a period: {periods}. For example: /stats last_week", periods=escape_html(", ".join(periods)))


def stats_heading(*, period: str, first: dt.date, last: dt.date) -> str:
    """The first line: the period by name ('this_month') and its days."""
    return _fill(
        "📊 <b>Statistics: {period}</b> ({first} to {last}, against the period before)",
        period=escape_html(period.replace("_", " ")),
        first=first.isoformat(),
        last=last.isoformat(),
    )


def _signed(percent: float) -> str:
    return f"{'+' if percent >= 0 else ''}{percent}"


def stats_new_leads(*, count: int, previous: int, percent: float | None) -> str:
    """A count against the period before: by how many percent, when the period before had any."""
    if percent is None:
        return _fill("New leads: {count} (before: {previous})", count=count, previous=previous)
    return _fill(
        "New leads: {count} ({change} % against {previous})", count=count, previous=previous, change=_signed(percent)
    )


def stats_converted(*, count: int, rate: float | None) -> str:
    if rate is None:
        return _fill("Converted: {count}", count=count)
    return _fill("Converted: {count} ({rate} %)", count=count, rate=rate)


def stats_deals_won(*, count: int, previous: int, percent: float | None) -> str:
    if percent is None:
        return _fill("Deals won: {count} (before: {previous})", count=count, previous=previous)
    return _fill(
        "Deals won: {count} ({change} % against {previous})", count=count, previous=previous, change=_signed(percent)
    )


NO_AMOUNTS = "none"
"""Revenue or payments of a period without any."""


def stats_revenue(*, amounts: str) -> str:
    return _fill("Revenue: {amounts}", amounts=escape_html(amounts))


def stats_payments(*, count: int, amounts: str) -> str:
    return _fill("Payments: {count}, {amounts}", count=count, amounts=escape_html(amounts))


def stats_partial(*, note: str) -> str:
    return _fill("<i>{note}</i>", note=escape_html(note))


def stats_now(*, deals: Mapping[str, int], leads: Mapping[str, int], issues: Mapping[str, int]) -> str:
    """The pipeline as it is now: how many deals are at each stage, leads and issues at each status."""
    return _fill(
        "<b>Now</b>\nDeals: {deals}\nLeads: {leads}\nIssues: {issues}",
        deals=_tally(deals),
        leads=_tally(leads),
        issues=_tally(issues),
    )


def _tally(counts: Mapping[str, int]) -> str:
    return " · ".join(
        _fill("{name} {count}", name=escape_html(name.replace("_", " ")), count=count) for name, count in counts.items()
    )


# /support

SUPPORT_CANCELLED = "👌 OK, no support ticket was opened."
SUPPORT_EXPIRED = "This request has already been handled."
SUPPORT_CANCEL_WORDS = {"cancel", "/cancel", "stop", "never mind", "nevermind"}
"""What a user may send instead of their problem to open no ticket after all (lower case)."""
SUPPORT_TICKET_TITLE = "Support request"
"""The title of a ticket whose message has no words."""
SUPPORT_CANCEL_BUTTON = "Cancel"


def support_prompt(*, website_url: str) -> str:
    return _fill(
        "🆘 <b>Support</b>\n\n"
        "Describe your problem in your next message and I'll open a support ticket for our team.\n\n"
        'You can also reach us through the website: <a href="{website}">{website}</a>',
        website=escape_html(website_url, quote=True),
    )


def ticket_opened(*, number: str, title: str) -> str:
    """A customer's ticket; `number` is '#12' (or the ticket's reference when it has none)."""
    return _fill(
        "✅ Thanks! Support ticket <b>{number}</b> is open: “{title}”.\nOur team will get back to you.",
        number=escape_html(number),
        title=escape_html(title),
    )


def ticket_opened_for_staff(*, number: str, title: str, reference: str) -> str:
    """A staff member's ticket, assigned to them: `reference` is what /status takes."""
    return _fill(
        "✅ Support ticket <b>{number}</b> is open: “{title}”.\n"
        "It is assigned to you; /status issue {reference} changes its status.",
        number=escape_html(number),
        title=escape_html(title),
        reference=escape_html(reference),
    )


def ticket_not_opened(*, reason: str) -> str:
    return _fill("⚠️ I couldn't open a support ticket: {reason}", reason=escape_html(reason))


# A tool's refusal or failure, for any command

UNKNOWN_ERROR = "unknown error"


def not_permitted(*, reason: str) -> str:
    return _fill("⛔ Not permitted: {reason}.", reason=escape_html(reason))


def tool_failed(*, reason: str) -> str:
    return _fill("⚠️ {reason}", reason=escape_html(reason))


# The change commands (/newlead, /stage, ...)


def change_usage(*, description: str) -> str:
    """The answer to a change command without a line: what it does, with an example."""
    return _fill("✏️ {description}", description=escape_html(description))


def usage_error(*, usage: str, example: str) -> str:
    """The answer to a line that does not make the command's arguments: `usage` is one of the texts below."""
    return _fill("✏️ {usage}. For example: {example}", usage=escape_html(usage), example=escape_html(example))


# What a change command's line lacks (plain text: usage_error escapes it)

USAGE_DEAL = "say the deal's title, then its value"
USAGE_VALUE_TWICE = "give the value once, without a thousands separator (12000, not 12,000)"
USAGE_ONE_CUSTOMER = "name one customer"
USAGE_ISSUE = "say the issue's title, then (after a comma) what happened"
USAGE_STAGE = "say the deal's number and the stage"
USAGE_STATUS = "say 'lead' or 'issue', its number, and the status"
USAGE_ASSIGN = "say what kind of record, its number and the email of who takes it over"
USAGE_ASSIGNEE = "end with the email of the staff member who takes it over"
USAGE_DELETE = "say what kind of record, its number"
USAGE_PAYMENT = "say the order's number and the amount"


def usage_first_part(*, first: str) -> str:
    """A contact's line without its first part; `first` is the argument's name ('name')."""
    return _fill("say the {first}", first=first)


def usage_too_many_parts(*, first: str, others: Sequence[str]) -> str:
    """`first` and `others` are the names of the arguments that the line's parts go into."""
    return _fill(
        "too many parts: after the {first}, give at most an email, a phone and {others}",
        first=first,
        others=", ".join(others),
    )


def usage_deal_part(*, part: str) -> str:
    return _fill("{part!r} is not a value (12000 EUR), a stage or 'customer 3'", part=part)


def usage_amount(*, amount: str) -> str:
    return _fill("{amount!r} is not an amount", amount=amount)


# A value left out of a change command's line, asked for with buttons


def choice_question(*, question: str) -> str:
    """`question` is choose_stage's or choose_status' (plain text)."""
    return _fill("❔ {question}", question=escape_html(question))


def choose_stage(*, deal: str) -> str:
    return _fill("Which stage should deal {deal} move to?", deal=deal)


def choose_status(*, kind: str, record: str) -> str:
    """`kind` is 'lead' or 'issue'."""
    return _fill("Which status should {kind} {record} have?", kind=kind, record=record)


def say_it_whole(*, example: str) -> str:
    """When the buttons cannot carry the line (its record's reference is too long)."""
    return _fill("✏️ Say it whole, for example: {example}", example=escape_html(example))


def change_saved(*, record: str) -> str:
    """A change made without a tap (a customer's support issue): `record` is its reference, capitalised."""
    return _fill("✅ Done: {record} is saved.", record=escape_html(record))


CHANGE_SAVED_UNNAMED = "✅ Done: It is saved."


# Confirm / Cancel under a change's preview (the preview itself is the domain's: shared/crm/tools)

CONFIRM_BUTTON = "✅ Confirm"
CANCEL_CHANGE_BUTTON = "✖️ Cancel"

ASKING = "❓ "
"""Before the headline of a change waiting for Confirm or Cancel."""
CANCELLED_HEADLINE = "✖️ Cancelled: "
EXPIRED_HEADLINE = "⌛ Expired: "
DONE_HEADLINE = "✅ Done: "
NOT_DONE_YET_HEADLINE = "⚠️ Not done yet: "
NOT_DONE_HEADLINE = "❌ Not done: "


def not_done_yet(*, preview_html: str, reason: str) -> str:
    """A change that failed on our side: Confirm may be tapped again."""
    return _fill("{preview}\n{reason} Tap Confirm to try again.", preview=preview_html, reason=escape_html(reason))


def not_done(*, preview_html: str, reason: str) -> str:
    return _fill("{preview}\n{reason}", preview=preview_html, reason=escape_html(reason))


NOT_DONE_UNKNOWN = "it could not be done"
"""The reason of a failure that gives none."""

ACCOUNT_CHANGED = "your account's organisation or role changed since this was proposed; please ask again"
"""Why a confirmed change was not made (plain text, like the tools' reasons)."""

# The answers to a tap on Confirm or Cancel (plain text, shown by Telegram over the chat)

LOG_IN_FIRST = "Please log in first (/start)."
TAP_CANCELLED = "Cancelled."
CONFIRMATION_EXPIRED = "This confirmation has expired. Please ask again."
CHANGE_RUNNING = "⏳ This change is being made right now."
CHANGE_ALREADY_DONE = "✅ This was already done."
CHANGE_NOT_MADE = "❌ This change was not made."
CHANGE_WAS_CANCELLED = "This change was cancelled."


# The assistant's answers when it has none of its own

ASSISTANT_NOT_CONFIGURED = (
    "🤖 I can't answer questions in my own words on this bot, but everything I do has a command: see /help."
)
ASSISTANT_BUSY = "⏳ The assistant is busy right now. Please try again in a moment, or use the commands in /help."
ASSISTANT_TIMEOUT = "⏳ That took too long to answer. Please try again in a moment, or use the commands in /help."
ASSISTANT_BLOCKED = "🚫 I can't help with that request."
ASSISTANT_EMPTY = "🤔 I didn't get an answer for that. Could you rephrase it?"
ASSISTANT_MALFORMED = "🤔 I couldn't work out how to do that. Could you rephrase it?"
ASSISTANT_TOO_MANY_STEPS = "😕 I could not finish that. Please ask for something smaller or more specific."
ASSISTANT_REJECTED = "⚠️ The assistant could not process that message. Please try again or rephrase it."
ASSISTANT_OVER_BUDGET = (
    "📊 You've reached today's assistant usage limit. It resets at midnight UTC; commands still work (/help)."
)


def assistant_too_fast(*, per_minute: int) -> str:
    return _fill(
        "🐢 You've sent {per_minute} messages to the assistant in the last minute. Please wait a moment.",
        per_minute=per_minute,
    )


# /notifications (button labels are plain text)

GROUP_LABELS = {
    "files": "📄 Files",
    "orders": "🛒 Orders",
    "payments": "💳 Payments",
    "messages": "💬 Messages from our team",
}

NOTIFICATIONS_OFF = (
    "🔕 <b>Notification settings</b>\n\n"
    "All notifications are off: you won't get status updates here until you turn them back on."
)


def notification_settings(*, wanted: Mapping[str, bool]) -> str:
    """The settings while notifications are on: `wanted` says whether each group is, in the order shown."""
    groups = "\n".join(_group_state(group, on) for group, on in wanted.items())
    return _fill(
        "🔔 <b>Notification settings</b>\n\n"
        "Status updates sent here as they happen:\n"
        "{groups}\n\n"
        "Tap a button to turn a group on or off.",
        groups=groups,
    )


def _group_state(group: str, on: bool) -> str:
    if on:
        return _fill("{group}: ✅ on", group=GROUP_LABELS[group])
    return _fill("{group}: ⛔ off", group=GROUP_LABELS[group])


def turn_group_on(*, group: str) -> str:
    return _fill("🔔 Turn on {group}", group=GROUP_LABELS[group])


def turn_group_off(*, group: str) -> str:
    return _fill("🔕 Turn off {group}", group=GROUP_LABELS[group])


TURN_ALL_ON = "🔔 Turn all on"
TURN_ALL_OFF = "🔕 Turn all off"
SAVED = "Saved"
