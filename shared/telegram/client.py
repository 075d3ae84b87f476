"""Bot API client on one pooled requests session (https://core.telegram.org/bots/api)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from shared.config import get_settings
from shared.instance import per_instance
from shared.telegram.errors import TelegramNetworkError, error_for
from shared.telegram.types import BotCommand, InlineKeyboardMarkup, Message, User, WebhookInfo

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.05
READ_TIMEOUT = 10.0


def send_message_params(
    chat_id: int,
    text: str,
    parse_mode: str | None = "HTML",
    reply_markup: InlineKeyboardMarkup | None = None,
    disable_web_page_preview: bool = True,
) -> dict[str, Any]:
    """sendMessage's parameters, as the client sends them and as a webhook's answer names them."""
    params = {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": parse_mode,
        "reply_markup": reply_markup.model_dump(exclude_none=True) if reply_markup else None,
        "link_preview_options": {"is_disabled": True} if disable_web_page_preview else None,
    }
    return {key: value for key, value in params.items() if value is not None}


class TelegramClient:
    """Calls `{base}/bot{token}/{method}` with JSON bodies; raises a TelegramError subclass on failure."""

    def __init__(self, token: str, api_base: str = "https://api.telegram.org", read_timeout: float = READ_TIMEOUT):
        self._url = f"{api_base.rstrip('/')}/bot{token}/"
        self._read_timeout = read_timeout
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def call(self, method: str, params: dict[str, Any] | None = None, read_timeout: float | None = None) -> Any:
        """Call a Bot API method and return its `result`."""
        body = {key: value for key, value in (params or {}).items() if value is not None}
        timeout = (CONNECT_TIMEOUT, read_timeout or self._read_timeout)
        try:
            response = self._session.post(self._url + method, json=body, timeout=timeout)
        except requests.RequestException as error:
            raise TelegramNetworkError(method, 0, f"{type(error).__name__}: Telegram did not answer") from None
        try:
            payload = response.json()
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            raise error_for(method, response.status_code, f"HTTP {response.status_code} without a JSON body", None)
        if payload.get("ok") is True:
            return payload.get("result")
        parameters = payload.get("parameters") or {}
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        raise error_for(
            method,
            int(payload.get("error_code") or response.status_code),
            str(payload.get("description") or "no description"),
            float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    def send_message(
        self,
        chat_id: int,
        text: str,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboardMarkup | None = None,
        disable_web_page_preview: bool = True,
    ) -> Message:
        """https://core.telegram.org/bots/api#sendmessage"""
        params = send_message_params(chat_id, text, parse_mode, reply_markup, disable_web_page_preview)
        return Message.model_validate(self.call("sendMessage", params))

    def edit_message_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """https://core.telegram.org/bots/api#editmessagetext"""
        self.call(
            "editMessageText",
            {
                "chat_id": chat_id,
                "message_id": message_id,
                "text": text,
                "parse_mode": parse_mode,
                "reply_markup": reply_markup.model_dump(exclude_none=True) if reply_markup else None,
            },
        )

    def edit_message_reply_markup(
        self, chat_id: int, message_id: int, reply_markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """https://core.telegram.org/bots/api#editmessagereplymarkup (no markup: the buttons go)."""
        self.call(
            "editMessageReplyMarkup",
            {
                "chat_id": chat_id,
                "message_id": message_id,
                "reply_markup": reply_markup.model_dump(exclude_none=True) if reply_markup else None,
            },
        )

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """https://core.telegram.org/bots/api#deletemessage"""
        self.call("deleteMessage", {"chat_id": chat_id, "message_id": message_id})

    def send_chat_action(self, chat_id: int, action: str = "typing") -> None:
        """https://core.telegram.org/bots/api#sendchataction"""
        self.call("sendChatAction", {"chat_id": chat_id, "action": action})

    def answer_callback_query(self, callback_query_id: str, text: str | None = None, show_alert: bool = False) -> None:
        """https://core.telegram.org/bots/api#answercallbackquery"""
        self.call(
            "answerCallbackQuery",
            {"callback_query_id": callback_query_id, "text": text, "show_alert": show_alert or None},
        )

    def set_webhook(
        self, url: str, secret_token: str, allowed_updates: Sequence[str], drop_pending_updates: bool = False
    ) -> None:
        """https://core.telegram.org/bots/api#setwebhook"""
        self.call(
            "setWebhook",
            {
                "url": url,
                "secret_token": secret_token,
                "allowed_updates": list(allowed_updates),
                "drop_pending_updates": drop_pending_updates or None,
            },
        )

    def delete_webhook(self, drop_pending_updates: bool = False) -> None:
        """https://core.telegram.org/bots/api#deletewebhook"""
        self.call("deleteWebhook", {"drop_pending_updates": drop_pending_updates or None})

    def get_webhook_info(self) -> WebhookInfo:
        """https://core.telegram.org/bots/api#getwebhookinfo"""
        return WebhookInfo.model_validate(self.call("getWebhookInfo"))

    def get_me(self) -> User:
        """https://core.telegram.org/bots/api#getme"""
        return User.model_validate(self.call("getMe"))

    def set_my_commands(self, commands: Sequence[BotCommand], scope: dict[str, Any] | None = None) -> None:
        """https://core.telegram.org/bots/api#setmycommands"""
        self.call(
            "setMyCommands",
            {"commands": [command.model_dump() for command in commands], "scope": scope},
        )

    def delete_my_commands(self, scope: dict[str, Any] | None = None) -> None:
        """https://core.telegram.org/bots/api#deletemycommands"""
        self.call("deleteMyCommands", {"scope": scope})


@per_instance
def get_telegram_client() -> TelegramClient:
    """The Bot API client of this instance (needs TG_BOT_TOKEN)."""
    settings = get_settings()
    return TelegramClient(settings.require("TG_BOT_TOKEN"), settings.telegram_api_base)
