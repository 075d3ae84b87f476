"""Slash commands on the CRM tools: /orders, /files and /support for everyone linked, /deals and /leads for staff.

They call the same tools as the assistant, through run_tool, so the same permissions apply. Long lists are
paged with a "More" button whose callback_data carries the tool's cursor.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.bot import texts
from shared.bot.conversation import Conversation
from shared.config import get_settings
from shared.crm import support_drafts
from shared.crm.periods import PERIOD_NAMES, bot_zone
from shared.crm.records import CrmFile, CrmRecord, Deal, Lead, Order
from shared.crm.tools.changes import money
from shared.crm.tools.registry import ToolError, run_tool
from shared.crm.tools.results import Created, RecordPage, RecordView
from shared.crm.tools.statistics import Statistics
from shared.roles import Role
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
    line: Callable[[RecordView[Any], Role], str]
    own_only: frozenset[Role] = frozenset()  # roles shown only the records assigned to them

    def args_for(self, role: Role) -> dict[str, Any]:
        return {**self.args, "assigned_to_me": True} if role in self.own_only else dict(self.args)


def _order_line(view: RecordView[Order], role: Role) -> str:
    order = view.record
    emoji, status = ORDER_STATUS.get(order.status, ("❔", order.status.title()))
    details = [_money(order.total, order.currency), _day(order.created_at)]
    return _entry(f"{emoji} <b>{_ref(order)}</b> · {_shown(status)}", details, view, role)


def _file_line(view: RecordView[CrmFile], role: Role) -> str:
    file = view.record
    emoji, status = FILE_STATUS.get(file.status, ("📄", file.status.title()))
    heading = f"{emoji} <b>{_shown(file.name) or _ref(file)}</b> · {_shown(status)}"
    eta = file.eta
    details = [f"ETA {_moment(eta)}" if eta and file.status != "ready" else "", _day(file.created_at)]
    text = _entry(heading, details, view, role)
    comment = file.admin_comment
    return f"{text}\n    💬 <i>{_shown(comment, COMMENT_LENGTH)}</i>" if comment else text


def _deal_line(view: RecordView[Deal], role: Role) -> str:
    deal = view.record
    stage = DEAL_STAGE.get(deal.stage, _shown(deal.stage))
    title = f"💼 <b>{_ref(deal)}</b> · {_shown(deal.title)}"
    return _entry(title, [_money(deal.value, deal.currency), stage], view, role)


def _lead_line(view: RecordView[Lead], role: Role) -> str:
    lead = view.record
    status = LEAD_STATUS.get(lead.status, _shown(lead.status))
    title = f"👤 <b>{_ref(lead)}</b> · {_shown(lead.name)}"
    details = [_shown(lead.source), _shown(lead.company), status]
    return _entry(title, details, view, role, with_customer=False)


def _entry(title: str, details: list[str], view: RecordView[Any], role: Role, with_customer: bool = True) -> str:
    if with_customer and role is not Role.CUSTOMER and view.customer_name:
        details.append(f"👥 {_shown(view.customer_name)}")
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


def orders_command(conversation: Conversation, argument: str) -> None:
    show_page(conversation, LISTINGS["o"])


def files_command(conversation: Conversation, argument: str) -> None:
    show_page(conversation, LISTINGS["f"])


def deals_command(conversation: Conversation, argument: str) -> None:
    show_page(conversation, LISTINGS["d"])


def leads_command(conversation: Conversation, argument: str) -> None:
    show_page(conversation, LISTINGS["l"])


def show_page(conversation: Conversation, listing: Listing, cursor: str | None = None) -> None:
    """One page of a listing as a message, with a More button when there is more."""
    session = conversation.require_session()
    args = {**listing.args_for(session.role), "page_size": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
    page = run_tool(session.caller(), listing.tool, args, RecordPage)
    if isinstance(page, ToolError):
        conversation.say(refusal_text(page))
        return
    role = session.role
    title = listing.titles.get(role, "")
    if not page.items:
        conversation.say(f"{title}\n\n{listing.empty.get(role, '')}" if cursor is None else "That's all.")
        return
    heading = title if cursor is None else f"{title} (continued)"
    body = "\n\n".join(listing.line(view, role) for view in page.items)
    conversation.say(f"{heading}\n\n{body}", _more_button(listing, page.next_cursor))


def _more_button(listing: Listing, cursor: str | None) -> InlineKeyboardMarkup | None:
    if not cursor:
        return None
    data = f"{MORE_KIND}:{listing.code}:{cursor}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        log.warning("no More button: the cursor of %s is too long for callback_data", listing.tool)
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="More ⬇️", callback_data=data)]])


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


def stats_command(conversation: Conversation, argument: str) -> None:
    session = conversation.require_session()
    period = "_".join(argument.lower().split()) or "this_month"
    if period not in PERIOD_NAMES:
        conversation.say(f"✏️ Say a period: {escape_html(', '.join(PERIOD_NAMES))}. For example: /stats last_week")
        return
    outcome = run_tool(session.caller(), "get_statistics", {"period": period}, Statistics)
    if isinstance(outcome, ToolError):
        conversation.say(refusal_text(outcome))
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
    arguments = {"title": title or "Support request", "description": text}
    created = run_tool(session.caller(), "create_issue", arguments, Created)
    if isinstance(created, ToolError):
        conversation.say(f"⚠️ I couldn't open a support ticket: {escape_html(_reason(created))}")
        return
    issue = created.created.record
    number = f"#{issue.number}" if issue.number is not None else _shown(issue.label)
    title = _shown(issue.caption, TITLE_LENGTH)
    if session.role is Role.CUSTOMER:
        conversation.say(f"✅ Thanks! Support ticket <b>{number}</b> is open: “{title}”.\n{SUPPORT_FOLLOW_UP}")
        return
    reference = escape_html(str(issue.number or issue.id))
    conversation.say(
        f"✅ Support ticket <b>{number}</b> is open: “{title}”.\n"
        f"It is assigned to you; /status issue {reference} changes its status."
    )


def refusal_text(error: ToolError) -> str:
    """A failed tool call, for the user."""
    if error.refused:
        return f"⛔ Not permitted: {escape_html(_reason(error))}."
    return f"⚠️ {escape_html(_reason(error))}"


def _reason(error: ToolError) -> str:
    return error.reason or "unknown error"


def _shown(value: str | None, length: int = LIST_FIELD_LENGTH) -> str:
    """A CRM value for a list line: shortened, then escaped ('' for none)."""
    return escape_html(shorten(value, length)) if value else ""


def _ref(record: CrmRecord) -> str:
    return _shown(record.label[:1].upper() + record.label[1:])


def _money(amount: float, currency: str) -> str:
    return _shown(money(amount, currency).strip())


def _day(moment: dt.datetime | None) -> str:
    return f"{_local(moment):%d %b %Y}" if moment else ""


def _moment(value: dt.datetime | str) -> str:
    """An ETA: a time, or what the CRM wrote instead of one."""
    return f"{_local(value):%d %b %H:%M}" if isinstance(value, dt.datetime) else _shown(value)


def _local(moment: dt.datetime) -> dt.datetime:
    """In the bot's time zone; a time stored without a zone is UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(bot_zone())
