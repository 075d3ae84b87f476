"""Slash commands on the CRM tools: /orders, /files and /support for everyone linked, /deals and /leads for staff.

They call the same tools as the assistant, through call_tool, so the same permissions apply. Long lists are
paged with a "More" button whose callback_data carries the tool's cursor.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.bot import callbacks, texts
from shared.bot.commands import registry
from shared.bot.conversation import Conversation
from shared.config import get_settings
from shared.crm import support_drafts
from shared.crm.periods import PERIOD_NAMES, bot_zone
from shared.crm.tools.registry import ToolError, ToolResult, call_tool, run_tool
from shared.crm.tools.statistics import Statistics
from shared.roles import EVERYONE, STAFF, Role
from shared.telegram.formatting import escape_html, shorten
from shared.telegram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

log = logging.getLogger(__name__)

PAGE_SIZE = 8
MORE_KIND = "crmmore"
SUPPORT_KIND = "crmsupport"
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit
TITLE_LENGTH = 80
LIST_FIELD_LENGTH = 80  # a name, title or other CRM text in a list line; a page of 8 stays readable
COMMENT_LENGTH = 200

ORDER_STATUS = {
    "pending": ("🕐", "Pending"),
    "confirmed": ("📋", "Confirmed"),
    "paid": ("💳", "Paid"),
    "shipped": ("🚚", "Shipped"),
    "delivered": ("📦", "Delivered"),
    "cancelled": ("❌", "Cancelled"),
}
FILE_STATUS = {
    "received": ("📥", "Received"),
    "processing": ("⏳", "Processing"),
    "ready": ("✅", "Ready"),
}
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

SUPPORT_FOLLOW_UP = "Our team will get back to you."
SUPPORT_CANCELLED = "👌 OK, no support ticket was opened."
SUPPORT_EXPIRED = "This request has already been handled."
SUPPORT_CANCEL_WORDS = {"cancel", "/cancel", "stop", "never mind", "nevermind"}


@dataclass(frozen=True)
class Listing:
    """A paged list command: which tool with which arguments, and how to show its items."""

    code: str  # one letter, in the More button's callback_data
    tool: str
    args: dict[str, Any]
    titles: dict[Role, str]
    empty: dict[Role, str]
    line: Callable[[dict[str, Any], Role], str]
    own_only: frozenset[Role] = frozenset()  # roles shown only the records assigned to them

    def args_for(self, role: Role) -> dict[str, Any]:
        return {**self.args, "assigned_to_me": True} if role in self.own_only else dict(self.args)


def _order_line(item: dict[str, Any], role: Role) -> str:
    emoji, status = ORDER_STATUS.get(item.get("status", ""), ("❔", str(item.get("status", "")).title()))
    details = [_money(item.get("total"), item.get("currency")), _day(item.get("created_at"))]
    return _entry(f"{emoji} <b>{_ref(item)}</b> · {_shown(status)}", details, item, role)


def _file_line(item: dict[str, Any], role: Role) -> str:
    emoji, status = FILE_STATUS.get(item.get("status", ""), ("📄", str(item.get("status", "")).title()))
    heading = f"{emoji} <b>{_shown(item.get('name')) or _ref(item)}</b> · {_shown(status)}"
    eta = item.get("eta")
    details = [f"ETA {_moment(eta)}" if eta and item.get("status") != "ready" else "", _day(item.get("created_at"))]
    text = _entry(heading, details, item, role)
    comment = item.get("admin_comment")
    return f"{text}\n    💬 <i>{_shown(comment, COMMENT_LENGTH)}</i>" if comment else text


def _deal_line(item: dict[str, Any], role: Role) -> str:
    stage = DEAL_STAGE.get(item.get("stage", ""), _shown(item.get("stage")))
    title = f"💼 <b>{_ref(item)}</b> · {_shown(item.get('title'))}"
    return _entry(title, [_money(item.get("value"), item.get("currency")), stage], item, role)


def _lead_line(item: dict[str, Any], role: Role) -> str:
    status = LEAD_STATUS.get(item.get("status", ""), _shown(item.get("status")))
    title = f"👤 <b>{_ref(item)}</b> · {_shown(item.get('name'))}"
    details = [_shown(item.get("source")), _shown(item.get("company")), status]
    return _entry(title, details, item, role, with_customer=False)


def _entry(title: str, details: list[str], item: dict[str, Any], role: Role, with_customer: bool = True) -> str:
    if with_customer and role is not Role.CUSTOMER and item.get("customer_name"):
        details.append(f"👥 {_shown(item['customer_name'])}")
    shown = " · ".join(detail for detail in details if detail)
    return f"{title}\n    {shown}" if shown else title


LISTINGS = {
    listing.code: listing
    for listing in (
        Listing(
            "o",
            "list_orders",
            {},
            {
                Role.CUSTOMER: "🧾 <b>Your orders</b>",
                Role.EMPLOYEE: "🧾 <b>Orders of your customers</b>",
                Role.VENDOR: "🧾 <b>Recent orders</b>",
            },
            {
                Role.CUSTOMER: "You have no orders yet.",
                Role.EMPLOYEE: "Your customers have no orders yet.",
                Role.VENDOR: "There are no orders yet.",
            },
            _order_line,
        ),
        Listing(
            "f",
            "list_files",
            {},
            {
                Role.CUSTOMER: "📁 <b>Your files</b>",
                Role.EMPLOYEE: "📁 <b>Files of your customers</b>",
                Role.VENDOR: "📁 <b>Recent files</b>",
            },
            {
                Role.CUSTOMER: "You have no files yet.",
                Role.EMPLOYEE: "Your customers have no files yet.",
                Role.VENDOR: "There are no files yet.",
            },
            _file_line,
        ),
        Listing(
            "d",
            "list_deals",
            {"open_only": True},
            {Role.EMPLOYEE: "💼 <b>Your open deals</b>", Role.VENDOR: "💼 <b>Open deals</b> (everyone's)"},
            {Role.EMPLOYEE: "You have no open deals.", Role.VENDOR: "There are no open deals."},
            _deal_line,
            frozenset({Role.EMPLOYEE}),
        ),
        Listing(
            "l",
            "list_leads",
            {"open_only": True},
            {Role.EMPLOYEE: "👤 <b>Your open leads</b>", Role.VENDOR: "👤 <b>Open leads</b> (everyone's)"},
            {Role.EMPLOYEE: "You have no open leads.", Role.VENDOR: "There are no open leads."},
            _lead_line,
            frozenset({Role.EMPLOYEE}),
        ),
    )
}


@registry.command("orders", "View recent orders", EVERYONE)
def orders_command(conversation: Conversation, argument: str) -> None:
    show_page(conversation, LISTINGS["o"])


@registry.command("files", "View recent files and their status", EVERYONE)
def files_command(conversation: Conversation, argument: str) -> None:
    show_page(conversation, LISTINGS["f"])


@registry.command("deals", "Open deals (an employee's: their own)", STAFF)
def deals_command(conversation: Conversation, argument: str) -> None:
    show_page(conversation, LISTINGS["d"])


@registry.command("leads", "Open leads (an employee's: their own)", STAFF)
def leads_command(conversation: Conversation, argument: str) -> None:
    show_page(conversation, LISTINGS["l"])


def show_page(conversation: Conversation, listing: Listing, cursor: str | None = None) -> None:
    """One page of a listing as a message, with a More button when there is more."""
    session = conversation.require_session()
    args = {**listing.args_for(session.role), "page_size": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
    result = call_tool(session.caller(), listing.tool, args)
    if not result["ok"]:
        conversation.say(refusal_text(result))
        return
    role = session.role
    items: list[dict[str, Any]] = result["items"]
    title = listing.titles.get(role, "")
    if not items:
        conversation.say(f"{title}\n\n{listing.empty.get(role, '')}" if cursor is None else "That's all.")
        return
    heading = title if cursor is None else f"{title} (continued)"
    body = "\n\n".join(listing.line(item, role) for item in items)
    conversation.say(f"{heading}\n\n{body}", _more_button(listing, result.get("next_cursor")))


def _more_button(listing: Listing, cursor: str | None) -> InlineKeyboardMarkup | None:
    if not cursor:
        return None
    data = f"{MORE_KIND}:{listing.code}:{cursor}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        log.warning("no More button: the cursor of %s is too long for callback_data", listing.tool)
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="More ⬇️", callback_data=data)]])


@callbacks.on(MORE_KIND)
def more_pressed(conversation: Conversation, query: CallbackQuery, payload: str) -> None:
    code, _, cursor = payload.partition(":")
    listing = LISTINGS.get(code)
    if conversation.session is None or listing is None or not cursor:
        conversation.answer(query.id, texts.BUTTON_EXPIRED)
        return
    conversation.answer(query.id)
    show_page(conversation, listing, cursor)
    if query.message is not None:  # this page's More is spent: the next page carries its own
        conversation.drop_buttons(query.message.message_id)


@registry.command("stats", "Statistics of a period and the pipeline now, e.g. /stats last_month", STAFF)
def stats_command(conversation: Conversation, argument: str) -> None:
    session = conversation.require_session()
    period = "_".join(argument.lower().split()) or "this_month"
    if period not in PERIOD_NAMES:
        conversation.say(f"✏️ Say a period: {escape_html(', '.join(PERIOD_NAMES))}. For example: /stats last_week")
        return
    outcome = run_tool(session.caller(), "get_statistics", {"period": period}, Statistics)
    if isinstance(outcome, ToolError):
        conversation.say(refusal_text(outcome.for_model()))
        return
    conversation.say(statistics_text(outcome))


def statistics_text(stats: Statistics) -> str:
    """get_statistics as a message: the period against the one before, then the pipeline as it is now."""
    now, before, change = stats.current, stats.previous, stats.change_percent
    period = stats.period
    lines = [
        f"📊 <b>Statistics: {escape_html(period.name.replace('_', ' '))}</b> "
        f"({period.first.isoformat()} to {period.last.isoformat()}, against the period before)",
        "",
        f"New leads: {now.new_leads}{_against(before.new_leads, change.new_leads)}",
        f"Converted: {now.converted_leads}"
        + (f" ({now.lead_conversion_rate_percent} %)" if now.lead_conversion_rate_percent is not None else ""),
        f"Deals won: {now.deals_won}{_against(before.deals_won, change.deals_won)}",
        f"Revenue: {_sums(now.revenue)}",
        f"Payments: {now.payments_count}, {_sums(now.payments_total)}",
    ]
    if now.partial:
        lines.append(f"<i>{escape_html(now.partial)}</i>")
    lines += ["", "<b>Now</b>"]
    for title, counted in (
        ("Deals", stats.deals_by_stage),
        ("Leads", stats.leads_by_status),
        ("Issues", stats.issues_by_status),
    ):
        counts = " · ".join(f"{escape_html(name.replace('_', ' '))} {count}" for name, count in counted.items())
        lines.append(f"{title}: {counts}")
    return "\n".join(lines)


def _against(previous: int, percent: float | None) -> str:
    if percent is None:
        return f" (before: {previous})"
    return f" ({'+' if percent >= 0 else ''}{percent} % against {previous})"


def _sums(totals: dict[str, float]) -> str:
    return ", ".join(_money(amount, currency) for currency, amount in sorted(totals.items())) or "none"


@registry.command("support", "Contact support or open a support ticket", EVERYONE)
def support_command(conversation: Conversation, argument: str) -> None:
    session = conversation.require_session()
    if argument.strip():
        open_ticket(conversation, argument)
        return
    support_drafts.start_draft(session.telegram_user_id)
    website = escape_html(get_settings().website_url, quote=True)
    cancel = InlineKeyboardButton(text="Cancel", callback_data=f"{SUPPORT_KIND}:cancel")
    conversation.say(
        "🆘 <b>Support</b>\n\n"
        "Describe your problem in your next message and I'll open a support ticket for our team.\n\n"
        f'You can also reach us through the website: <a href="{website}">{website}</a>',
        InlineKeyboardMarkup(inline_keyboard=[[cancel]]),
    )


@callbacks.on(SUPPORT_KIND)
def support_cancel_pressed(conversation: Conversation, query: CallbackQuery, payload: str) -> None:
    taken = support_drafts.take_draft(query.from_user.id)
    conversation.answer(query.id, None if taken else SUPPORT_EXPIRED)
    if taken:
        conversation.say(SUPPORT_CANCELLED)


def take_support_message(conversation: Conversation, text: str) -> bool:
    """Open a ticket from this message if the user's last /support is waiting for one; True when handled.

    The router calls it for a linked user's plain text, before the assistant.
    """
    session = conversation.session
    if session is None:
        return False
    if not support_drafts.draft_waiting(session.link) or not support_drafts.take_draft(session.telegram_user_id):
        return False
    if text.strip().lower() in SUPPORT_CANCEL_WORDS:
        conversation.say(SUPPORT_CANCELLED)
        return True
    open_ticket(conversation, text)
    return True


def open_ticket(conversation: Conversation, text: str) -> None:
    """Create a support issue from the user's words (through create_issue, as this user)."""
    session = conversation.require_session()
    text = text.strip()
    title = shorten(" ".join(text.splitlines()[0].split()), TITLE_LENGTH) if text else ""
    result = call_tool(session.caller(), "create_issue", {"title": title or "Support request", "description": text})
    if not result["ok"]:
        conversation.say(f"⚠️ I couldn't open a support ticket: {escape_html(_reason(result))}")
        return
    issue = result["created"]
    number = f"#{issue['number']}" if issue.get("number") is not None else _shown(issue["ref"])
    title = _shown(issue.get("title"), TITLE_LENGTH)
    if session.role is Role.CUSTOMER:
        conversation.say(f"✅ Thanks! Support ticket <b>{number}</b> is open: “{title}”.\n{SUPPORT_FOLLOW_UP}")
        return
    reference = escape_html(str(issue.get("number") or issue["id"]))
    conversation.say(
        f"✅ Support ticket <b>{number}</b> is open: “{title}”.\n"
        f"It is assigned to you; /status issue {reference} changes its status."
    )


def refusal_text(result: ToolResult) -> str:
    """A failed tool call, for the user."""
    if result.get("error") == "not permitted":
        return f"⛔ Not permitted: {escape_html(_reason(result))}."
    return f"⚠️ {escape_html(_reason(result))}"


def _reason(result: ToolResult) -> str:
    return str(result.get("detail") or result.get("error") or "unknown error")


def _shown(value: Any, length: int = LIST_FIELD_LENGTH) -> str:
    """A CRM value for a list line: shortened, then escaped ('' for none)."""
    return escape_html(shorten(str(value), length)) if value else ""


def _ref(item: dict[str, Any]) -> str:
    reference = str(item.get("ref") or "")
    return _shown(reference[:1].upper() + reference[1:])


def _money(amount: Any, currency: Any) -> str:
    if not isinstance(amount, int | float):
        return ""
    return _shown(f"{amount:,.2f} {currency or ''}".strip())


def _day(value: Any) -> str:
    moment = _parse_time(value)
    return f"{moment.astimezone(bot_zone()):%d %b %Y}" if moment else ""


def _moment(value: Any) -> str:
    moment = _parse_time(value)
    if moment is None:
        return _shown(value)
    return f"{moment.astimezone(bot_zone()):%d %b %H:%M}"


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
