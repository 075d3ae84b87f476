"""A terminal chat with the local bot: a sandbox Bot API prints what the bot sends; what you type is posted
to the local webhook as a Telegram update. Type /press N to tap button N of the last message with buttons.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from shared.bot.webhook import SECRET_HEADER
from shared.telegram.formatting import html_to_plain_text
from tests.fakes.telegram_api import Call, FakeTelegram

USER = {"id": 10001, "is_bot": False, "first_name": "Local", "username": "local_user"}
_print_lock = threading.Lock()


@dataclass
class Sandbox:
    """The tests' fake Bot API, printing what the bot sends and remembering the last inline buttons."""

    api: FakeTelegram
    buttons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def token(self) -> str:
        return self.api.token

    @property
    def base_url(self) -> str:
        return self.api.base_url

    def stop(self) -> None:
        self.api.stop()


def start_sandbox() -> Sandbox:
    sandbox = Sandbox(FakeTelegram(token="100001:local-sandbox-token", bot_username="local_crm_bot"))
    sandbox.api.on_call = lambda call: _show(call, sandbox.buttons)
    sandbox.api.start()
    return sandbox


def _show(call: Call, buttons: list[dict[str, Any]]) -> None:
    params = call.params
    if call.method in ("sendMessage", "editMessageText"):
        text = str(params.get("text", ""))
        shown = html_to_plain_text(text) if params.get("parse_mode") == "HTML" else text
        prefix = "bot ✎" if call.method == "editMessageText" else "bot ›"
        rows = (params.get("reply_markup") or {}).get("inline_keyboard") or []
        flat = [button for row in rows for button in row]
        if flat:
            buttons[:] = flat
        with _print_lock:
            print(f"\n{prefix} " + shown.replace("\n", "\n      "))
            for number, button in enumerate(flat, 1):
                print(f"      [{number}] {button.get('text')}   (type /press {number})")
            print(flush=True)
    elif call.method == "answerCallbackQuery" and params.get("text"):
        with _print_lock:
            print(f"\nbot (toast) › {params['text']}", flush=True)


def run(sandbox: Sandbox, webhook_url: str, secret: str) -> None:
    """Read lines until EOF or Ctrl-C and post each as an update."""
    print("Chat with the bot here. Try /start, then log in with a demo login. /press N taps a button. Ctrl-C quits.")
    update_ids = itertools.count(int(time.time()))
    message_ids = itertools.count(1)
    while True:
        try:
            line = input("you › ")
        except EOFError:
            return
        if not line.strip():
            continue
        buttons = sandbox.buttons
        if line.startswith("/press "):
            index = int(line.split()[1]) - 1 if line.split()[1].isdigit() else -1
            if not 0 <= index < len(buttons):
                print("no such button")
                continue
            update: dict[str, Any] = {
                "update_id": next(update_ids),
                "callback_query": {
                    "id": str(next(update_ids)),
                    "from": USER,
                    "chat_instance": "local",
                    "data": buttons[index].get("callback_data"),
                    "message": {
                        "message_id": 1,
                        "date": int(time.time()),
                        "chat": {"id": USER["id"], "type": "private"},
                        "text": "",
                    },
                },
            }
        else:
            update = {
                "update_id": next(update_ids),
                "message": {
                    "message_id": next(message_ids),
                    "date": int(time.time()),
                    "from": USER,
                    "chat": {"id": USER["id"], "type": "private"},
                    "text": line,
                },
            }
        response = requests.post(webhook_url, json=update, headers={SECRET_HEADER: secret}, timeout=70)
        if response.status_code != 200:
            print(f"(webhook answered {response.status_code}: {response.text[:200]})")
