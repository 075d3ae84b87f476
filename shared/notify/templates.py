"""The Telegram message of each event type, in the customer bot guide's style. Every CRM string is escaped,
and the long ones are cut so that every notification fits in one Telegram message."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.notify.events import (
    Event,
    FileStatusEvent,
    OrderEvent,
    PaymentEvent,
    StaffMessageEvent,
)
from shared.telegram.formatting import escape_html, split_plain_text, utf16_length

# The most UTF-16 code units (Telegram's measure: an emoji counts 2) each long CRM text shows, so that an event
# with all its texts at the CRM's maximum lengths fits in one message; text of that length in letters is never cut.
FILE_NAME_UNITS = 300
NOTE_UNITS = 1500
"""A file's update message and its comment."""
MESSAGE_TEXT_UNITS = 3800


class Heading(NamedTuple):
    emoji: str
    title: str
    status: str | None
    update: str


HEADINGS = {
    "file.received": Heading("📥", "File Status Update", "RECEIVED", "We've received your file; it's in our queue."),
    "file.processing": Heading("⏳", "File Status Update", "PROCESSING", "Your file is being processed by our team."),
    "file.ready": Heading("✅", "File Ready", "READY", "Your file is ready to download."),
    "file.eta_set": Heading("⏱️", "Estimated Time Set", None, "We've estimated when your file will be ready."),
    "file.comment_added": Heading("💬", "New Comment on Your File", None, "Our team added a comment to your file."),
    "order.confirmed": Heading("🧾", "Order Confirmed", "CONFIRMED", "Your order is confirmed."),
    "order.paid": Heading("💳", "Order Paid", "PAID", "Your order is paid. Thank you!"),
    "order.shipped": Heading("🚚", "Order Shipped", "SHIPPED", "Your order is on its way."),
    "order.delivered": Heading("📦", "Order Delivered", "DELIVERED", "Your order has been delivered."),
    "payment.received": Heading("💰", "Payment Received", None, "Thank you! We've received your payment."),
    "message": Heading("📢", "Message from our team", None, ""),
}


def render(event: Event, website_url: str, time_zone: str = "UTC") -> str:
    """The Telegram HTML of an event's notification."""
    heading = HEADINGS[event.type]
    lines = [f"<b>{heading.emoji} {heading.title}</b>", ""]
    if isinstance(event, FileStatusEvent):
        data = event.data
        lines.append(f"📄 File: <b>{_clipped(data.file_name, FILE_NAME_UNITS)}</b>")
        if heading.status:
            lines.append(f"📊 Status: {heading.status}")
        if data.eta:
            lines.append(f"⏱️ Estimated time: {_eta(data.eta, time_zone)}")
        lines.append(f"💬 Update: {_clipped(data.message or heading.update, NOTE_UNITS)}")
        if data.comment:
            lines.append(f"📝 Comment: {_clipped(data.comment, NOTE_UNITS)}")
        link = "View your files"
    elif isinstance(event, OrderEvent | PaymentEvent):
        lines.append(f"🛒 Order: <b>{_order_number(event.data.order_number)}</b>")
        if isinstance(event, OrderEvent):
            order = event.data
            lines.append(f"📊 Status: {heading.status}")
            if order.total is not None:
                lines.append(f"💰 Total: {_money(order.total, order.currency)}")
            if order.tracking_url:
                url = escape_html(order.tracking_url, quote=True)
                lines.append(f'🚚 Tracking: <a href="{url}">follow your parcel</a>')
        else:
            lines.append(f"💵 Amount: {_money(event.data.amount, event.data.currency)}")
        lines.append(f"💬 Update: {heading.update}")
        link = "View your orders"
    else:
        assert isinstance(event, StaffMessageEvent)
        lines.append(_clipped(event.data.text, MESSAGE_TEXT_UNITS))
        link = "Open your account"
    lines += ["", f'🔗 <a href="{escape_html(website_url, quote=True)}">{link}</a>', ""]
    lines.append(f"🕐 Updated: {_when(event.occurred_at, time_zone)}")
    return "\n".join(lines)


def _clipped(text: str, units: int) -> str:
    """A CRM text, escaped, and cut with "…" to `units` UTF-16 code units if it is longer."""
    if utf16_length(text) > units:
        text = split_plain_text(text, units - 1)[0] + "…"
    return escape_html(text)


def _order_number(number: str) -> str:
    return escape_html(number if number.startswith("#") else f"#{number}")


def _money(amount: Decimal, currency: str | None) -> str:
    return f"{amount:,.2f}" + (f" {escape_html(currency)}" if currency else "")


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _when(moment: dt.datetime, time_zone: str) -> str:
    return moment.astimezone(_zone(time_zone)).strftime("%Y-%m-%d %H:%M %Z")


def _eta(eta: str, time_zone: str) -> str:
    """An ISO date-time with a zone is shown like the other times; anything else ("2 hours") as sent."""
    try:
        moment = dt.datetime.fromisoformat(eta)
        return _when(moment, time_zone) if moment.tzinfo is not None else escape_html(eta)
    except (ValueError, OverflowError):  # not ISO, or its zone takes it past year 1 or 9999
        return escape_html(eta)
