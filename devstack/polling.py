"""Long polling against real Telegram: each update is posted to the local webhook like Telegram would."""

from __future__ import annotations

import time

import requests

from shared.bot.router import UPDATE_KINDS
from shared.bot.webhook import SECRET_HEADER
from shared.telegram.client import TelegramClient
from shared.telegram.errors import TelegramError


def run(env: dict[str, str], webhook_url: str) -> None:
    """Poll getUpdates until Ctrl-C (after deleteWebhook, which polling requires)."""
    telegram = TelegramClient(env["TG_BOT_TOKEN"], env.get("TELEGRAM_API_BASE", "https://api.telegram.org"))
    me = telegram.get_me()
    telegram.delete_webhook()
    print(f"Polling Telegram as @{me.username}: open https://t.me/{me.username} and send /start (Ctrl-C stops)")
    offset: int | None = None
    while True:
        try:
            updates = telegram.call(  # raw: each update is posted to the webhook exactly as Telegram sent it
                "getUpdates",
                {"offset": offset, "timeout": 25, "allowed_updates": list(UPDATE_KINDS)},
                read_timeout=35,
            )
        except TelegramError as error:
            print(f"getUpdates failed: {error}; retrying in 3 s")
            time.sleep(3)
            continue
        for update in updates:
            offset = int(update["update_id"]) + 1
            response = requests.post(
                webhook_url,
                json=update,
                headers={SECRET_HEADER: env["TG_WEBHOOK_SECRET"]},
                timeout=70,
            )
            if response.status_code != 200:
                print(f"webhook answered {response.status_code} to update {update['update_id']}: {response.text[:200]}")
                continue
            _run_answer(telegram, response)


def _run_answer(telegram: TelegramClient, response: requests.Response) -> None:
    """Do what Telegram does with a webhook's answer that names a method (the reply it held back): call it."""
    answer = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
    if isinstance(answer, dict) and isinstance(answer.get("method"), str):
        method = answer.pop("method")
        try:
            telegram.call(method, answer)
        except TelegramError as error:
            print(f"{method} from the webhook's answer failed: {error}")
