"""Build Telegram updates and send them to the webhook the way Telegram does."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.harness import WEBHOOK_SECRET, FunctionServer

_update_ids = itertools.count(int(time.time() * 1000) % 1_000_000_000)
_message_ids = itertools.count(1)


def next_update_id() -> int:
    return next(_update_ids)


def message_update(
    user_id: int, text: str | None, chat_id: int | None = None, chat_type: str = "private", **extra: Any
) -> dict[str, Any]:
    """A `message` update from a user (private chat by default)."""
    chat = {"id": chat_id if chat_id is not None else user_id, "type": chat_type}
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat,
        "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "username": f"user{user_id}"},
        **extra,
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": next_update_id(), "message": message}


def callback_update(user_id: int, data: str, message_id: int = 1) -> dict[str, Any]:
    """A `callback_query` update: the user pressed an inline button."""
    return {
        "update_id": next_update_id(),
        "callback_query": {
            "id": f"cb-{next_update_id()}",
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private"},
                "text": "...",
            },
        },
    }


def post_update(
    webhook: FunctionServer, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET
) -> requests.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return webhook.post("/", json=update, headers=headers)


def handled(response: requests.Response) -> bool:
    """The webhook took the update as new and answered it: 200, not a duplicate (its answer may name a reply)."""
    return response.status_code == 200 and "duplicate" not in response.json()


@dataclass
class ChatUser:
    """A Telegram user talking to the bot in a private chat through the webhook."""

    webhook: FunctionServer
    user_id: int
    sent: list[dict[str, Any]] = field(default_factory=list)

    def send(self, text: str | None, **extra: Any) -> requests.Response:
        update = message_update(self.user_id, text, **extra)
        self.sent.append(update)
        response = post_update(self.webhook, update)
        assert response.status_code == 200, response.text
        return response

    def press(self, data: str, message_id: int = 1) -> requests.Response:
        response = post_update(self.webhook, callback_update(self.user_id, data, message_id))
        assert response.status_code == 200, response.text
        return response

    @property
    def last_message_id(self) -> int:
        return int(self.sent[-1]["message"]["message_id"])
