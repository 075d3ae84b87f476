"""The assistant's per-user state (`tg_history`, one document per Telegram user): the recent conversation,
the per-minute message count and today's token usage. One read and one write per assistant turn.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.store.db import RETRY, TIMEOUT_SECONDS, Collections, get_db

MAX_EXCHANGES = 10
MAX_HISTORY_BYTES = 24_000


class Exchange(BaseModel):
    """One user message and everything the model and tools said about it, as serialised Contents."""

    model_config = ConfigDict(extra="ignore")

    contents: list[str]

    @property
    def size(self) -> int:
        return sum(len(content) for content in self.contents)


class AssistantState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    exchanges: list[Exchange] = Field(default_factory=list)
    minute_started_at: dt.datetime | None = None
    minute_messages: int = 0
    day: str | None = None
    day_tokens: int = 0
    day_messages: int = 0


def state_ref(telegram_user_id: int) -> Any:
    return get_db().collection(Collections.HISTORY).document(str(telegram_user_id))


def load_state(telegram_user_id: int) -> AssistantState:
    snapshot = state_ref(telegram_user_id).get(retry=RETRY, timeout=TIMEOUT_SECONDS)
    return AssistantState.model_validate(snapshot.to_dict()) if snapshot.exists else AssistantState()


def trim(exchanges: list[Exchange]) -> list[Exchange]:
    """The newest whole exchanges within MAX_EXCHANGES and MAX_HISTORY_BYTES (a call stays with its answer)."""
    kept: list[Exchange] = []
    size = 0
    for exchange in reversed(exchanges):
        if len(kept) == MAX_EXCHANGES or size + exchange.size > MAX_HISTORY_BYTES:
            break
        kept.append(exchange)
        size += exchange.size
    kept.reverse()
    return kept


def save_state(telegram_user_id: int, state: AssistantState) -> None:
    state_ref(telegram_user_id).set(state.model_dump(), retry=RETRY, timeout=TIMEOUT_SECONDS)


def clear_history(telegram_user_id: int) -> None:
    """Forget the conversation (usage and rate counters stay, so /clear is no way round the limits)."""
    state_ref(telegram_user_id).set({"exchanges": []}, merge=True, retry=RETRY, timeout=TIMEOUT_SECONDS)


def delete_state(telegram_user_id: int) -> None:
    """Forget everything about the user's assistant use (logout)."""
    state_ref(telegram_user_id).delete(retry=RETRY, timeout=TIMEOUT_SECONDS)
