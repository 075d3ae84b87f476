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
from shared.crm.tools.results import INVALID_CURSOR, Created, RecordPage, RecordView
from shared.crm.tools.statistics import Statistics
from shared.roles import Role
from shared.store import page_cursors
from shared.store.errors import StoreError
from shared.telegram.formatting import shorten
from shared.telegram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

log = logging.getLogger(__name__)

PAGE_SIZE = 8
MORE_KIND = "crmmore"
KEPT_MORE_KIND = "crmmorek"
SUPPORT_KIND = "crmsupport"
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit
TITLE_LENGTH = 80
LIST_FIELD_LENGTH = 80  # a name, title or other CRM text in a list line; a page of 8 stays readable
COMMENT_LENGTH = 200


@dataclass(frozen=True)
class Listing:
    """A paged list command: which tool with which arguments, and how to show its items."""

    code: str  # one letter, in the More button's callback_data
    tool: str
    args: dict[str, Any]
    wording: dict[Role, tuple[str, str]]  # the title, and what is said when there is nothing to list
    line: Callable[[RecordView[Any], Role], str]
    own_only: frozenset[Role] = frozenset()  # roles shown only the records assigned to them

    def args_for(self, role: Role) -> dict[str, Any]:
        return {**self.args, "assigned_to_me": True} if role in self.own_only else dict(self.args)


def _order_line(view: RecordView[Order], role: Role) -> str:
    order = view.record
    emoji, status = texts.ORDER_STATUS.get(order.status, (texts.UNKNOWN_ORDER_STATUS, order.status.title()))
    details = [_money(order.total, order.currency), _day(order.created_at)]
    return _entry(texts.list_heading(emoji=emoji, reference=_ref(order), label=_cut(status)), details, view, role)


def _file_line(view: RecordView[CrmFile], role: Role) -> str:
    file = view.record
    emoji, status = texts.FILE_STATUS.get(file.status, (texts.UNKNOWN_FILE_STATUS, file.status.title()))
    heading = texts.list_heading(emoji=emoji, reference=_cut(file.name) or _ref(file), label=_cut(status))
    eta = file.eta
    details = [texts.list_eta(eta=_moment(eta)) if eta and file.status != "ready" else "", _day(file.created_at)]
    text = _entry(heading, details, view, role)
    comment = file.admin_comment
    return texts.with_comment(entry_html=text, comment=_cut(comment, COMMENT_LENGTH)) if comment else text


def _deal_line(view: RecordView[Deal], role: Role) -> str:
    deal = view.record
    stage = texts.DEAL_STAGE.get(deal.stage, _cut(deal.stage))
    title = texts.list_heading(emoji=texts.DEAL_EMOJI, reference=_ref(deal), label=_cut(deal.title))
    return _entry(title, [_money(deal.value, deal.currency), stage], view, role)


def _lead_line(view: RecordView[Lead], role: Role) -> str:
    lead = view.record
    status = texts.LEAD_STATUS.get(lead.status, _cut(lead.status))
    title = texts.list_heading(emoji=texts.LEAD_EMOJI, reference=_ref(lead), label=_cut(lead.name))
    details = [_cut(lead.source), _cut(lead.company), status]
    return _entry(title, details, view, role, with_customer=False)


def _entry(title: str, details: list[str], view: RecordView[Any], role: Role, with_customer: bool = True) -> str:
    if with_customer and role is not Role.CUSTOMER and view.customer_name:
        details.append(texts.list_customer(name=_cut(view.customer_name)))
    return texts.list_entry(heading_html=title, details=details)


LISTINGS = {
    listing.code: listing
    for listing in (
        Listing(
            "o",
            "list_orders",
            {},
            texts.ORDER_LIST,
            _order_line,
        ),
        Listing(
            "f",
            "list_files",
            {},
            texts.FILE_LIST,
            _file_line,
        ),
        Listing(
            "d",
            "list_deals",
            {"open_only": True},
            texts.DEAL_LIST,
            _deal_line,
            frozenset({Role.EMPLOYEE}),
        ),
        Listing(
            "l",
            "list_leads",
            {"open_only": True},
            texts.LEAD_LIST,
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
    if isinstance(page, ToolError) and cursor is not None and page.error == INVALID_CURSOR:
        conversation.say(texts.BUTTON_EXPIRED)  # a CRM refusing a cursor made for another user's list
        return
    if isinstance(page, ToolError):
        conversation.say(refusal_text(page))
        return
    role = session.role
    title, empty = listing.wording.get(role, ("", ""))
    if not page.items:
        conversation.say(f"{title}\n\n{empty}" if cursor is None else texts.LIST_END)
        return
    heading = title if cursor is None else texts.list_continued(title_html=title)
    body = "\n\n".join(listing.line(view, role) for view in page.items)
    conversation.say(f"{heading}\n\n{body}", _more_button(conversation, listing, page.next_cursor))


def _more_button(conversation: Conversation, listing: Listing, cursor: str | None) -> InlineKeyboardMarkup | None:
    """The button to the next page: its cursor in the button, or, when the CRM's cursor does not fit in Telegram's
    64 bytes, kept in tg_page_cursors under a key the button carries."""
    if not cursor:
        return None
    data = f"{MORE_KIND}:{listing.code}:{cursor}"
    if len(data.encode()) > CALLBACK_DATA_LIMIT:
        try:
            data = f"{KEPT_MORE_KIND}:{listing.code}:{page_cursors.keep_cursor(conversation.user.id, cursor)}"
        except StoreError as error:  # the page goes out all the same, without its way on
            log.warning("no More button: the cursor of %s could not be kept: %s", listing.tool, error)
            return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=texts.MORE_BUTTON, callback_data=data)]])


def kept_more_pressed(conversation: Conversation, query: CallbackQuery, payload: str) -> None:
    """More, on a page whose cursor was kept in tg_page_cursors."""
    code, _, key = payload.partition(":")
    cursor = page_cursors.kept_cursor(conversation.user.id, key) if key else None
    more_pressed(conversation, query, f"{code}:{cursor or ''}")


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
        conversation.say(texts.stats_usage(periods=PERIOD_NAMES))
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
        texts.stats_heading(period=period.name, first=period.first, last=period.last),
        "",
        texts.stats_new_leads(count=now.new_leads, previous=before.new_leads, percent=change.new_leads),
        texts.stats_converted(count=now.converted_leads, rate=now.lead_conversion_rate_percent),
        texts.stats_deals_won(count=now.deals_won, previous=before.deals_won, percent=change.deals_won),
        texts.stats_revenue(amounts=_sums(now.revenue)),
        texts.stats_payments(count=now.payments_count, amounts=_sums(now.payments_total)),
    ]
    if now.partial:
        lines.append(texts.stats_partial(note=now.partial))
    now_html = texts.stats_now(deals=stats.deals_by_stage, leads=stats.leads_by_status, issues=stats.issues_by_status)
    lines += ["", now_html]
    return "\n".join(lines)


def _sums(totals: dict[str, float]) -> str:
    return ", ".join(_money(amount, currency) for currency, amount in sorted(totals.items())) or texts.NO_AMOUNTS


def support_command(conversation: Conversation, argument: str) -> None:
    session = conversation.require_session()
    if argument.strip():
        open_ticket(conversation, argument)
        return
    support_drafts.start_draft(session.telegram_user_id)
    cancel = InlineKeyboardButton(text=texts.SUPPORT_CANCEL_BUTTON, callback_data=f"{SUPPORT_KIND}:cancel")
    conversation.say(
        texts.support_prompt(website_url=get_settings().website_url), InlineKeyboardMarkup(inline_keyboard=[[cancel]])
    )


def support_cancel_pressed(conversation: Conversation, query: CallbackQuery, payload: str) -> None:
    taken = support_drafts.take_draft(query.from_user.id)
    conversation.answer(query.id, None if taken else texts.SUPPORT_EXPIRED)
    if taken:
        conversation.say(texts.SUPPORT_CANCELLED)


def take_support_message(conversation: Conversation, text: str) -> bool:
    """Open a ticket from this message if the user's last /support is waiting for one; True when handled.

    The router calls it for a linked user's plain text, before the assistant.
    """
    session = conversation.session
    if session is None:
        return False
    if not support_drafts.draft_waiting(session.link) or not support_drafts.take_draft(session.telegram_user_id):
        return False
    if text.strip().lower() in texts.SUPPORT_CANCEL_WORDS:
        conversation.say(texts.SUPPORT_CANCELLED)
        return True
    open_ticket(conversation, text)
    return True


def open_ticket(conversation: Conversation, text: str) -> None:
    """Create a support issue from the user's words (through create_issue, as this user)."""
    session = conversation.require_session()
    text = text.strip()
    title = shorten(" ".join(text.splitlines()[0].split()), TITLE_LENGTH) if text else ""
    arguments = {"title": title or texts.SUPPORT_TICKET_TITLE, "description": text}
    created = run_tool(session.caller(), "create_issue", arguments, Created)
    if isinstance(created, ToolError):
        conversation.say(texts.ticket_not_opened(reason=_reason(created)))
        return
    issue = created.created.record
    number = f"#{issue.number}" if issue.number is not None else _cut(issue.label)
    title = _cut(issue.caption, TITLE_LENGTH)
    if session.role is Role.CUSTOMER:
        conversation.say(texts.ticket_opened(number=number, title=title))
        return
    conversation.say(texts.ticket_opened_for_staff(number=number, title=title, reference=str(issue.number or issue.id)))


def refusal_text(error: ToolError) -> str:
    """A failed tool call, for the user."""
    if error.refused:
        return texts.not_permitted(reason=_reason(error))
    return texts.tool_failed(reason=_reason(error))


def _reason(error: ToolError) -> str:
    return error.reason or texts.UNKNOWN_ERROR


def _cut(value: str | None, length: int = LIST_FIELD_LENGTH) -> str:
    """A CRM value for a list line, shortened ('' for none)."""
    return shorten(value, length) if value else ""


def _ref(record: CrmRecord) -> str:
    return _cut(record.label[:1].upper() + record.label[1:])


def _money(amount: float, currency: str) -> str:
    return _cut(money(amount, currency).strip())


def _day(moment: dt.datetime | None) -> str:
    return texts.list_date(day=_local(moment)) if moment else ""


def _moment(value: dt.datetime | str) -> str:
    """An ETA: a time, or what the CRM wrote instead of one."""
    return texts.list_time(moment=_local(value)) if isinstance(value, dt.datetime) else _cut(value)


def _local(moment: dt.datetime) -> dt.datetime:
    """In the bot's time zone; a time stored without a zone is UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(bot_zone())
