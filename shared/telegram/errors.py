"""Typed errors of the Bot API (https://core.telegram.org/bots/api#making-requests)."""

from __future__ import annotations


class TelegramError(Exception):
    """Telegram answered ok=false, or could not be reached."""

    def __init__(self, method: str, error_code: int, description: str, retry_after: float | None = None) -> None:
        self.method = method
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        super().__init__(f"{method}: {error_code} {description}")


class TelegramBadRequest(TelegramError):
    """400: the request was wrong (bad chat, message not found, can't parse entities, ...)."""

    @property
    def is_parse_error(self) -> bool:
        return "can't parse entities" in self.description.lower()

    @property
    def is_not_modified(self) -> bool:
        """An edit that would leave the message as it is."""
        return "message is not modified" in self.description.lower()


class TelegramUnauthorized(TelegramError):
    """401: the bot token is wrong or revoked."""


class TelegramForbidden(TelegramError):
    """403: the bot may not write to this chat (blocked by the user, kicked, ...)."""

    @property
    def bot_was_blocked(self) -> bool:
        return "blocked by the user" in self.description.lower()


class TelegramRetryAfter(TelegramError):
    """429: flood control; wait `retry_after` seconds."""


class TelegramServerError(TelegramError):
    """5xx from Telegram; worth a retry."""


class TelegramNetworkError(TelegramError):
    """Telegram could not be reached or did not answer in time (error_code 0); worth a retry."""


def error_for(method: str, error_code: int, description: str, retry_after: float | None) -> TelegramError:
    """The typed error for an ok=false answer."""
    kind: type[TelegramError]
    if error_code == 400:
        kind = TelegramBadRequest
    elif error_code == 401:
        kind = TelegramUnauthorized
    elif error_code == 403:
        kind = TelegramForbidden
    elif error_code == 429:
        kind = TelegramRetryAfter
    elif error_code >= 500:
        kind = TelegramServerError
    else:
        kind = TelegramError
    return kind(method, error_code, description, retry_after)
