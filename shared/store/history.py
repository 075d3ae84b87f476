"""Assistant conversation history (`tg_history`, one document per Telegram user)."""

from __future__ import annotations

from shared.store.db import TIMEOUT_SECONDS, Collections, get_db


def clear_history(telegram_user_id: int) -> None:
    """Forget the user's conversation with the assistant."""
    get_db().collection(Collections.HISTORY).document(str(telegram_user_id)).delete(timeout=TIMEOUT_SECONDS)
