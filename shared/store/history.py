"""The assistant's per-user state (`tg_history`, one document per Telegram user): the recent conversation,
messages per minute, and messages and tokens per day.

One user's turns can overlap, so nothing is read, changed and written back whole: counts are atomic
increments and each exchange is its own map entry. A turn is one write and one read to be let in and
counted (`count_message`), and one write to add its answer and drop what is no longer kept (`record_turn`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.cloud.firestore_v1.field_path import FieldPath
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.store import documents
from shared.store.db import Collections, get_db
from shared.store.documents import DELETE_FIELD, Writes

MAX_EXCHANGES = 10
MAX_HISTORY_BYTES = 24_000
USAGE_DAYS_KEPT = 90
"""Days of usage each document keeps: the longest period GET /stats reports on."""


class Exchange(BaseModel):
    """One user message and everything the model and tools said about it, as serialised Contents, and whose
    conversation it is (a turn still running at logout must not hand its answer to the next account)."""

    model_config = ConfigDict(extra="ignore")

    crm_user_id: str
    contents: list[str]

    @property
    def size(self) -> int:
        return sum(len(content) for content in self.contents)


class DayUsage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    messages: int = 0  # sent to the assistant, refused ones included
    tokens: int = 0


class AssistantState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    exchanges: dict[str, Exchange] = Field(default_factory=dict)  # by exchange_key(): oldest first when sorted
    minutes: dict[str, int] = Field(default_factory=dict)  # messages by minute_key()
    days: dict[str, DayUsage] = Field(default_factory=dict)  # by day_key()

    @field_validator("exchanges", mode="before")
    @classmethod
    def _whole_exchanges_only(cls, value: Any) -> Any:
        """Drop what is not an exchange of this format (a list, or entries without an account, as stored before
        overlapping turns were counted): that conversation starts afresh instead of failing every turn."""
        if not isinstance(value, dict):
            return {}
        return {
            key: entry
            for key, entry in value.items()
            if isinstance(entry, dict) and isinstance(entry.get("crm_user_id"), str) and "contents" in entry
        }

    def conversation(self, crm_user_id: str) -> list[tuple[str, Exchange]]:
        """This account's exchanges, oldest first."""
        mine = [(key, exchange) for key, exchange in self.exchanges.items() if exchange.crm_user_id == crm_user_id]
        return sorted(mine, key=lambda item: item[0])

    def messages_in_minute(self, now: dt.datetime) -> int:
        return self.minutes.get(minute_key(now), 0)

    def day(self, now: dt.datetime) -> DayUsage:
        return self.days.get(day_key(now), DayUsage())


def minute_key(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y%m%d%H%M")


def day_key(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).date().isoformat()


def exchange_key(now: dt.datetime) -> str:
    """Sorts by time; the random tail keeps two turns finishing in the same microsecond apart."""
    return now.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S%f") + "-" + secrets.token_hex(4)


def state_ref(telegram_user_id: int) -> Any:
    return get_db().collection(Collections.HISTORY).document(str(telegram_user_id))


def load_state(telegram_user_id: int) -> AssistantState:
    snapshot = documents.read(state_ref(telegram_user_id))
    return AssistantState.model_validate(snapshot.to_dict()) if snapshot.exists else AssistantState()


def count_message(telegram_user_id: int, now: dt.datetime, reserved_tokens: int = 0) -> AssistantState:
    """Count a message to the assistant and reserve tokens for its turn, then read the state: the counts include
    this message and every other one counted before it, so messages sent together cannot all slip under a limit.
    record_turn gives the reservation back when it adds what the turn really used."""
    increment = documents.increment(1)
    day: dict[str, Any] = {"messages": increment}
    if reserved_tokens:
        day["tokens"] = documents.increment(reserved_tokens)
    documents.write(
        state_ref(telegram_user_id), {"minutes": {minute_key(now): increment}, "days": {day_key(now): day}}, merge=True
    )
    return load_state(telegram_user_id)


def trim(exchanges: list[tuple[str, Exchange]]) -> list[tuple[str, Exchange]]:
    """The newest whole exchanges within MAX_EXCHANGES and MAX_HISTORY_BYTES (a call stays with its answer)."""
    kept: list[tuple[str, Exchange]] = []
    size = 0
    for key, exchange in reversed(exchanges):
        if len(kept) == MAX_EXCHANGES or size + exchange.size > MAX_HISTORY_BYTES:
            break
        kept.append((key, exchange))
        size += exchange.size
    kept.reverse()
    return kept


def record_turn(
    telegram_user_id: int,
    seen: AssistantState,
    counted_at: dt.datetime,
    tokens: int,
    exchange: Exchange | None,
    finished_at: dt.datetime,
    reserved_tokens: int = 0,
) -> None:
    """Add a turn's tokens in place of what count_message reserved for it (to the day its message was counted in)
    and its exchange, and drop what `seen` (the state read when the message was counted) holds that is no longer
    kept: older exchanges past the limits, another account's, past minutes, and days older than USAGE_DAYS_KEPT."""
    keep = set()
    exchanges: dict[str, Any] = {}
    if exchange is not None:
        key = exchange_key(finished_at)
        ordered = [*seen.conversation(exchange.crm_user_id), (key, exchange)]
        keep = {kept_key for kept_key, _ in trim(ordered)}
        if key in keep:
            exchanges[key] = exchange.model_dump()
        exchanges |= {old: DELETE_FIELD for old in seen.exchanges if old not in keep}
    minute, day = minute_key(counted_at), day_key(counted_at)
    oldest_day = day_key(counted_at - dt.timedelta(days=USAGE_DAYS_KEPT - 1))
    fields: dict[str, Any] = {
        "days": {day: {"tokens": documents.increment(tokens - reserved_tokens)}}
        | {old: DELETE_FIELD for old in seen.days if old < oldest_day},
        "minutes": {old: DELETE_FIELD for old in seen.minutes if old < minute},
        "exchanges": exchanges,
    }
    documents.write(state_ref(telegram_user_id), {name: value for name, value in fields.items() if value}, merge=True)


def usage_totals(days: list[dt.date]) -> DayUsage:
    """Everyone's messages and tokens on these days: a sum aggregation per day and figure (one field each, so the
    automatic single-field indexes serve them), no document read."""
    figures = [(day.isoformat(), name) for day in days for name in DayUsage.model_fields]

    def total(figure: tuple[str, str]) -> int:
        return int(documents.sum_of(get_db().collection(Collections.HISTORY).sum(FieldPath("days", *figure))))

    with ThreadPoolExecutor(max_workers=min(8, len(figures) or 1)) as pool:
        values = list(pool.map(total, figures))
    totals = dict.fromkeys(DayUsage.model_fields, 0)
    for (_, name), value in zip(figures, values, strict=True):
        totals[name] += value
    return DayUsage(**totals)


def forget_conversation(telegram_user_id: int, writes: Writes | None = None) -> None:
    """Forget the conversation (/clear, logout, a new link), at once or as part of `writes` (a batch or a
    transaction). The counts stay: neither /clear nor logging out and in again is a way round the limits."""
    documents.write(state_ref(telegram_user_id), {"exchanges": DELETE_FIELD}, merge=True, writes=writes)
