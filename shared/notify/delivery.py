"""Delivering events: claim each in the ledger, find its recipient, send through the pacer; and re-drives."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.config import get_settings
from shared.crm.port import CrmUnreachable
from shared.notify import ledger, recipients
from shared.notify.events import EVENT_TYPES, Event, MalformedBodyError, ReceivedEvent, UnknownEvent, parse_event
from shared.notify.ledger import DeliveryStatus, LedgerEntry
from shared.notify.pacer import MESSAGES_PER_SECOND, SECONDS_BETWEEN_MESSAGES_TO_A_CHAT, instance_pacer
from shared.notify.recipients import Recipient, Refusal, find_recipient
from shared.notify.sending import NOTIFICATIONS, Outgoing, SendOutcome, deliver_in_order
from shared.notify.templates import render
from shared.store import audit, links
from shared.store.errors import StoreError
from shared.telegram.client import TelegramClient, get_telegram_client
from shared.telegram.send_policy import SendPolicy

log = logging.getLogger(__name__)

PREPARING_THREADS = 16
REDRIVABLE = frozenset(status for status in ledger.STORED_STATUSES if status is not DeliveryStatus.SENT)
STILL_PENDING = "not sent before the time budget ran out; a re-drive will send it"
UNKNOWN_TYPE = "unknown_type"
"""The reason given for an event of a type this bot does not know."""
STORED_EVENT_INVALID = "the stored event no longer validates"
REDRIVE_LOOKS_AT_MOST = 2000
"""Ledger entries a re-drive reads at most, those it skips included: a ledger full of them cannot make it time out."""


class Skipped(StrEnum):
    """Why a re-drive left an event alone."""

    IN_PROGRESS = "in_progress"
    """Another request or re-drive holds it."""
    OTHER_ORGANISATION = "other_organisation"
    """Refused: the record it is about belongs to another organisation than the recipient's."""
    OTHER_CUSTOMER = "other_customer"
    """Refused: the recipient is a customer, and the record is another customer's."""
    UNKNOWN_TYPE = "unknown_type"
    """Recorded by a bot that knew its type and this one does not (a rollback): kept as it is for one that does."""
    MALFORMED = "malformed"
    """The stored event no longer validates (it was marked so by an earlier re-drive)."""


FINAL_REFUSALS = {
    recipients.OTHER_ORGANISATION: Skipped.OTHER_ORGANISATION,
    recipients.OTHER_CUSTOMER: Skipped.OTHER_CUSTOMER,
}


@dataclass(frozen=True)
class DeliveryOptions:
    """How long a request may spend sending, and how fast (Telegram's limits by default)."""

    budget_seconds: float = 40.0
    """Sends start only within this many seconds of the request (the function's timeout is 60 s)."""
    per_second: float = MESSAGES_PER_SECOND
    per_chat_interval: float = SECONDS_BETWEEN_MESSAGES_TO_A_CHAT
    retry: SendPolicy = NOTIFICATIONS


@dataclass(frozen=True)
class EventResult:
    """The answer about one event."""

    event_id: str
    status: DeliveryStatus
    reason: str | None = None
    first_status: DeliveryStatus | None = None
    """For a duplicate: the status of the first delivery."""
    telegram_message_id: int | None = None
    retry: bool = False
    """True when the event was not recorded at all, so the CRM should send it again."""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.event_id, "status": self.status.value}
        if self.reason:
            body["reason"] = self.reason
        if self.first_status is not None:
            body["first_status"] = self.first_status.value
        if self.telegram_message_id is not None:
            body["telegram_message_id"] = self.telegram_message_id
        if self.retry:
            body["retry"] = True
        return body


def summary(results: Iterable[EventResult]) -> dict[str, Any]:
    """The JSON answer for a list of results: each result in order, and how many of each status."""
    listed = list(results)
    return {
        "results": [result.as_json() for result in listed],
        "counts": dict(Counter(result.status.value for result in listed)),
    }


@dataclass(frozen=True)
class RedriveReport:
    """What a re-drive did: a result per event it took, and how many it left alone, by why."""

    results: list[EventResult]
    skipped_by_reason: dict[Skipped, int] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return sum(self.skipped_by_reason.values())

    def as_json(self) -> dict[str, Any]:
        by_reason = {reason.value: count for reason, count in sorted(self.skipped_by_reason.items())}
        return {**summary(self.results), "skipped": self.skipped, "skipped_by_reason": by_reason}


@dataclass(frozen=True)
class _Ready:
    event: Event
    recipient: Recipient
    message: Outgoing


def notify_events(
    events: Sequence[ReceivedEvent],
    telegram: TelegramClient | None = None,
    options: DeliveryOptions = DeliveryOptions(),
) -> list[EventResult]:
    """Claim each event in the ledger and deliver the new ones; a result per event, in order.

    An event of a type this bot does not know is answered `failed` (UNKNOWN_TYPE) and not claimed.
    """
    return _deliver(events, telegram, options, claim=True)


def redrive(
    statuses: Iterable[str] = (DeliveryStatus.PENDING, DeliveryStatus.FAILED),
    limit: int = 100,
    *,
    telegram: TelegramClient | None = None,
    options: DeliveryOptions = DeliveryOptions(),
) -> RedriveReport:
    """Send again, oldest first, up to `limit` ledger events with one of `statuses` (never `sent` ones).

    Each is re-checked from scratch (recipient, link, preferences, permissions), so an event that failed
    because the user was not linked yet is sent once they are. Events no re-drive can send (see Skipped)
    and those another request or re-drive holds are skipped and counted by why, without using up `limit`;
    at most REDRIVE_LOOKS_AT_MOST entries are read.
    """
    wanted = {DeliveryStatus(status) for status in statuses}
    if not wanted or not wanted <= REDRIVABLE:
        allowed = ", ".join(sorted(status.value for status in REDRIVABLE))
        raise ValueError(f"statuses must be some of: {allowed}")
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be between 1 and 1000")
    taken: list[Event] = []
    results: list[EventResult] = []
    skipped: Counter[Skipped] = Counter()
    entries = ledger.iter_entries_with_status(wanted, page_size=max(limit, 100))
    for entry in itertools.islice(entries, REDRIVE_LOOKS_AT_MOST):
        never = _never_sendable(entry)
        current = None if never else ledger.take_for_redrive(entry, wanted)
        if current is None:
            skipped[never or Skipped.IN_PROGRESS] += 1
            continue
        event = _stored_event(current)
        if isinstance(event, EventResult):
            results.append(event)
        else:
            taken.append(event)
        if len(taken) + len(results) == limit:
            break
    results += _deliver(taken, telegram, options, claim=False)
    return RedriveReport(results, dict(skipped))


def _never_sendable(entry: LedgerEntry) -> Skipped | None:
    """Why no re-drive can send this entry, or None: read from the type and reason the ledger records, so entries
    written before this check are recognised too. Telegram's and storage's failures are worth another try."""
    if entry.event_type not in EVENT_TYPES:
        return Skipped.UNKNOWN_TYPE
    if entry.status is not DeliveryStatus.FAILED or entry.reason is None:
        return None
    if entry.reason.startswith(STORED_EVENT_INVALID):
        return Skipped.MALFORMED
    return FINAL_REFUSALS.get(entry.reason)


def _stored_event(entry: LedgerEntry) -> Event | EventResult:
    try:
        return parse_event(entry.event)
    except MalformedBodyError as error:
        reason = f"{STORED_EVENT_INVALID}: {error}"
        ledger.finish(entry.event_id, DeliveryStatus.FAILED, reason=reason)
        return EventResult(entry.event_id, DeliveryStatus.FAILED, reason)


def _deliver(
    events: Sequence[ReceivedEvent], telegram: TelegramClient | None, options: DeliveryOptions, claim: bool
) -> list[EventResult]:
    if not events:
        return []
    pacer = instance_pacer(options.per_second, options.per_chat_interval)
    deadline = pacer.now() + options.budget_seconds
    settings = get_settings()
    client = telegram or get_telegram_client()
    prepared: list[_Ready | EventResult] = []
    ready: dict[str, _Ready] = {}

    def prepare(event: ReceivedEvent) -> _Ready | EventResult:
        if isinstance(event, UnknownEvent):
            return _unknown_type(event)
        try:
            return _prepare(event, claim, settings.website_url, settings.bot_time_zone)
        except Exception as error:  # a bug met by one event must not fail the others
            log.exception("event %s could not be prepared", event.id)
            reason = f"internal error: {type(error).__name__}; a re-drive will retry it"
            _settle(event.id, DeliveryStatus.FAILED, reason)
            return EventResult(event.id, DeliveryStatus.FAILED, reason)

    def record(message: Outgoing, outcome: SendOutcome) -> None:
        _record_outcome(ready[message.key], outcome)

    with ThreadPoolExecutor(max_workers=min(PREPARING_THREADS, len(events))) as pool:

        def messages() -> Iterator[Outgoing]:
            """Each event's message as soon as it and those before it are prepared (sending starts meanwhile)."""
            for item in pool.map(prepare, events):
                prepared.append(item)
                if isinstance(item, _Ready):
                    ready[item.message.key] = item
                    yield item.message

        outcomes = deliver_in_order(client, messages(), pacer, deadline, options.retry, record)
    return [
        item if isinstance(item, EventResult) else _result(item.event.id, outcomes[item.message.key])
        for item in prepared
    ]


def _unknown_type(event: UnknownEvent) -> EventResult:
    """Answer an event of a type this bot does not know without recording it, so that the CRM can send it again
    once the bot knows the type; an id the ledger already holds is a duplicate, as for any event."""
    try:
        first = ledger.repeat_of(event.id)
    except StoreError as error:  # nothing is sent either way: answer without the look-up
        log.error("event %s: ledger not readable: %s", event.id, error)
        first = None
    except Exception:  # a bug must not fail the other events, and the answer stands without the look-up
        log.exception("event %s: looking its id up in the ledger failed", event.id)
        first = None
    if first is not None:
        return EventResult(event.id, DeliveryStatus.DUPLICATE, first_status=first.status)
    log.warning(
        "event %s of type %r, which this bot does not know: answered failed, not recorded", event.id, event.type
    )
    return EventResult(event.id, DeliveryStatus.FAILED, UNKNOWN_TYPE)


def _prepare(event: Event, claim: bool, website_url: str, time_zone: str) -> _Ready | EventResult:
    """Claim the event (unless re-driven), find its recipient, and settle it unless there is one to send to."""
    if claim:
        try:
            claimed = ledger.claim(event)
        except StoreError as error:
            log.error("event %s not recorded, Firestore unavailable: %s", event.id, error)
            return EventResult(
                event.id, DeliveryStatus.FAILED, "storage unavailable: send this event again", retry=True
            )
        if not claimed.created:
            first = claimed.entry.status if claimed.entry is not None else None
            return EventResult(event.id, DeliveryStatus.DUPLICATE, first_status=first)
    try:
        found = find_recipient(event)
    except StoreError as error:
        log.error("event %s: CRM not readable: %s", event.id, error)
        reason = "storage unavailable while looking up the recipient; a re-drive will retry it"
        _settle(event.id, DeliveryStatus.FAILED, reason)
        return EventResult(event.id, DeliveryStatus.FAILED, reason)
    except CrmUnreachable as error:
        log.error("event %s: the CRM could not answer: %s", event.id, error)
        reason = "the CRM could not answer while looking up the recipient; a re-drive will retry it"
        _settle(event.id, DeliveryStatus.FAILED, reason)
        return EventResult(event.id, DeliveryStatus.FAILED, reason)
    if isinstance(found, Refusal):
        _settle(
            event.id,
            found.status,
            found.reason,
            crm_user_id=found.user.id if found.user else None,
            telegram_user_id=found.link.telegram_user_id if found.link else None,
            chat_id=found.link.chat_id if found.link else None,
        )
        return EventResult(event.id, found.status, found.reason)
    html = render(event, website_url, time_zone)
    return _Ready(event, found, Outgoing(event.id, found.link.chat_id, html))


def _settle(event_id: str, status: DeliveryStatus, reason: str, **recipient: Any) -> None:
    try:
        ledger.finish(event_id, status, reason=reason, **recipient)
    except StoreError as error:
        log.error("event %s: outcome %s not recorded: %s", event_id, status, error)


def _record_outcome(item: _Ready, outcome: SendOutcome) -> None:
    link = item.recipient.link
    if outcome.status is DeliveryStatus.BLOCKED and outcome.attempts:
        links.set_blocked(link.telegram_user_id, True)
        audit.record("bot_blocked", telegram_user_id=link.telegram_user_id, crm_user_id=link.crm_user_id, via="notify")
    ledger.finish(
        item.event.id,
        outcome.status,
        reason=_reason(outcome),
        attempts=outcome.attempts,
        telegram_message_id=outcome.telegram_message_id,
        last_error=outcome.error,
        crm_user_id=item.recipient.user.id,
        telegram_user_id=link.telegram_user_id,
        chat_id=link.chat_id,
    )


def _reason(outcome: SendOutcome) -> str | None:
    if outcome.status is DeliveryStatus.PENDING:
        return STILL_PENDING
    if outcome.status is DeliveryStatus.BLOCKED:
        return "the user has blocked the bot"
    if outcome.status is DeliveryStatus.FAILED:
        return f"Telegram: {outcome.error}" if outcome.error else "Telegram did not take the message"
    return None


def _result(event_id: str, outcome: SendOutcome) -> EventResult:
    return EventResult(event_id, outcome.status, _reason(outcome), telegram_message_id=outcome.telegram_message_id)
