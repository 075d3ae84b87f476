"""A terminal chat with the local bot: a sandbox Bot API shows what the bot sends; what you type is posted
to the local webhook as a Telegram update. `/press N` taps button N of the last message with buttons, and
`/as ID` speaks as another Telegram user.
"""

from __future__ import annotations

import html.parser
import itertools
import math
import readline  # input() edits lines with it; the prompt is redrawn from its buffer
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests

from shared.bot.webhook import SECRET_HEADER
from tests.fakes.telegram_api import Call, FakeTelegram
from tests.harness import run_webhook_answer

PROMPT = "you › "
DEFAULT_USER_ID = 10001
INDENT = "      "
HIDDEN_TEXT = "••••••"
WELCOME = (
    "Chat with the bot here. Try /start, then log in with a demo login. /press N taps button N, "
    "/as ID speaks as another Telegram user (/as alone: who you are). Ctrl-C quits."
)


def telegram_user(user_id: int) -> dict[str, Any]:
    """The `from` of this local Telegram user's updates."""
    if user_id == DEFAULT_USER_ID:
        return {"id": user_id, "is_bot": False, "first_name": "Local", "username": "local_user"}
    return {"id": user_id, "is_bot": False, "first_name": f"Local {user_id}", "username": f"local_user_{user_id}"}


def terminal_text(text: str, parse_mode: str | None) -> str:
    """What a Telegram app shows of a message, as plain text; a link shows its URL: `text (url)`."""
    if (parse_mode or "").upper() != "HTML":
        return text
    parser = _TerminalText()
    parser.feed(text)
    parser.close()
    return "".join(parser.chunks)


class _TerminalText(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._links: list[tuple[str, int]] = []  # (href, where its text starts in chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self.chunks)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._links:
            href, start = self._links.pop()
            if href and "".join(self.chunks[start:]).strip() != href:
                self.chunks.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


class Screen:
    """The terminal. What the bot sends is printed above the `you ›` prompt, which is then drawn again with
    what was typed so far, so a notification arriving mid-sentence loses neither."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.interactive = self.out.isatty()
        self._lock = threading.Lock()
        self._at_prompt = False
        self._last_typed: str | None = None  # the line just typed, while nothing was printed below it

    def read_line(self) -> str:
        """The next line typed at the prompt (EOFError at the end of input)."""
        with self._lock:
            self._at_prompt = True
        try:
            line = input(PROMPT)
        finally:
            with self._lock:
                self._at_prompt = False
        with self._lock:
            self._last_typed = line
        return line

    def show(self, text: str) -> None:
        """Print text (lines) where the user sees it, keeping the prompt and their unfinished line below."""
        with self._lock:
            self._write(text)

    def hide_typed(self, typed: str) -> None:
        """The bot deleted a message the user typed: wipe it from the screen if it is still the last line
        there, and from the line history, and say it is gone."""
        with self._lock:
            if self.interactive and not self._at_prompt and self._last_typed == typed:
                columns = max(shutil.get_terminal_size().columns, 1)
                rows = max(1, math.ceil(len(PROMPT + typed) / columns))
                self.out.write(f"\x1b[{rows}F\x1b[J")  # up to the typed line, and clear from there
            if readline.get_current_history_length():
                last = readline.get_current_history_length()
                if readline.get_history_item(last) == typed:
                    readline.remove_history_item(last - 1)
            self._write(f"{PROMPT}{HIDDEN_TEXT} (deleted)")

    def _write(self, text: str) -> None:
        if self._at_prompt and self.interactive:
            typed = readline.get_line_buffer()
            self.out.write(f"\r\x1b[K{text}\n{PROMPT}{typed}")
        else:
            self.out.write(text + "\n")
        self._last_typed = None
        self.out.flush()


@dataclass
class Keyboard:
    """The inline buttons `/press N` taps in a chat: those of the last message the bot sent or edited with
    buttons, until the bot takes them away."""

    message_id: int
    buttons: list[dict[str, Any]]
    gone: str | None = None  # why they cannot be pressed any more


@dataclass
class Sandbox:
    """The tests' fake Bot API; shows what Telegram accepted from the bot, and remembers messages and buttons."""

    api: FakeTelegram
    screen: Screen
    user_id: int = DEFAULT_USER_ID  # who the terminal speaks as
    keyboards: dict[int, Keyboard] = field(default_factory=dict)
    typed: dict[tuple[int, int], str] = field(default_factory=dict)  # (chat, message id) -> what the user sent
    sent: dict[tuple[int, int], str] = field(default_factory=dict)  # (chat, message id) -> what the bot shows

    @property
    def token(self) -> str:
        return self.api.token

    @property
    def base_url(self) -> str:
        return self.api.base_url

    def stop(self) -> None:
        self.api.stop()

    def on_answer(self, call: Call, answer: dict[str, Any]) -> None:
        """Show a Bot API call that succeeded, as a Telegram app would show it."""
        if not answer.get("ok"):
            return
        params = call.params
        if call.method == "sendMessage":
            self._show_message(params, int(answer["result"]["message_id"]), edited=False)
        elif call.method == "editMessageText":
            self._show_message(params, int(params.get("message_id") or 0), edited=True)
        elif call.method == "editMessageReplyMarkup":
            self._show_buttons_changed(params)
        elif call.method == "deleteMessage":
            self._show_deleted(int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        elif call.method == "answerCallbackQuery" and params.get("text"):
            self.screen.show(f"bot (toast) › {params['text']}\n")

    def _show_message(self, params: dict[str, Any], message_id: int, edited: bool) -> None:
        chat_id = int(params.get("chat_id") or 0)
        shown = terminal_text(str(params.get("text", "")), params.get("parse_mode"))
        self.sent[(chat_id, message_id)] = shown
        rows = (params.get("reply_markup") or {}).get("inline_keyboard") or []
        buttons = [button for row in rows for button in row]
        keyboard = self.keyboards.get(chat_id)
        if buttons:
            self.keyboards[chat_id] = Keyboard(message_id, buttons)
        elif edited and keyboard is not None and keyboard.message_id == message_id:
            keyboard.gone = "the bot edited that message without them"
        prefix = "bot ✎" if edited else "bot ›"
        switch = ""
        if chat_id != self.user_id:
            prefix += f" (to {chat_id})"
            switch = f"/as {chat_id}, then "
        lines = [f"{prefix} " + shown.replace("\n", "\n" + INDENT)]
        for number, button in enumerate(buttons, 1):
            action = f"opens {button['url']}" if button.get("url") else f"{switch}type /press {number}"
            lines.append(f"{INDENT}[{number}] {button.get('text')}   ({action})")
        self.screen.show("\n".join(lines) + "\n")

    def _show_buttons_changed(self, params: dict[str, Any]) -> None:
        """The bot took a message's buttons away (a spent More): they cannot be pressed any more."""
        keyboard = self.keyboards.get(int(params.get("chat_id") or 0))
        rows = (params.get("reply_markup") or {}).get("inline_keyboard") or []
        if keyboard is not None and keyboard.message_id == int(params.get("message_id") or 0) and not rows:
            keyboard.gone = "the bot took those buttons away"

    def _show_deleted(self, chat_id: int, message_id: int) -> None:
        keyboard = self.keyboards.get(chat_id)
        if keyboard is not None and keyboard.message_id == message_id:
            keyboard.gone = "the bot deleted that message"
        typed = self.typed.pop((chat_id, message_id), None)
        if typed is not None:
            self.screen.hide_typed(typed)
        elif (shown := self.sent.pop((chat_id, message_id), None)) is not None:
            first_line = shown.strip().splitlines()[0] if shown.strip() else ""
            cut = first_line if len(first_line) <= 60 else first_line[:59] + "…"
            self.screen.show(f"bot › {cut} (deleted)")


def start_sandbox(screen: Screen | None = None) -> Sandbox:
    """Start the sandbox Bot API on a free loopback port."""
    api = FakeTelegram(token="100001:local-sandbox-token", bot_username="local_crm_bot")
    sandbox = Sandbox(api, screen or Screen())
    sandbox.api.on_answer = sandbox.on_answer
    sandbox.api.start()
    return sandbox


class TerminalChat:
    """Turns what the user types into Telegram updates for the webhook; `/press` and `/as` are handled here."""

    def __init__(self, sandbox: Sandbox, webhook_url: str, secret: str) -> None:
        self.sandbox = sandbox
        self.webhook_url = webhook_url
        self.secret = secret
        self._update_ids = itertools.count(int(time.time()))

    @property
    def user(self) -> dict[str, Any]:
        return telegram_user(self.sandbox.user_id)

    def handle(self, line: str) -> None:
        """One line typed at the prompt."""
        command, _, argument = line.strip().partition(" ")
        if command == "/press":
            self._press(argument.strip())
        elif command == "/as":
            self._speak_as(argument.strip())
        elif line.strip():
            self._send_text(line)

    def _send_text(self, text: str) -> None:
        message_id = self.sandbox.api.new_message_id()
        chat_id = self.sandbox.user_id
        self.sandbox.typed[(chat_id, message_id)] = text
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "from": self.user,
            "chat": {"id": chat_id, "type": "private"},
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        self._post({"update_id": next(self._update_ids), "message": message})

    def _press(self, argument: str) -> None:
        keyboard = self.sandbox.keyboards.get(self.sandbox.user_id)
        if keyboard is None:
            self.sandbox.screen.show("(no buttons to press yet)")
            return
        if keyboard.gone:
            self.sandbox.screen.show(f"(the last buttons are gone: {keyboard.gone})")
            return
        count = len(keyboard.buttons)
        if not argument.isdigit() or not 1 <= int(argument) <= count:
            which = "one, /press 1" if count == 1 else f"1 to {count}"
            self.sandbox.screen.show(f"(no button {argument}: the last message with buttons has {which})")
            return
        button = keyboard.buttons[int(argument) - 1]
        if button.get("url"):
            self.sandbox.screen.show(f"(that button opens {button['url']} in a browser)")
            return
        chat_id = self.sandbox.user_id
        message = {
            "message_id": keyboard.message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": self.sandbox.sent.get((chat_id, keyboard.message_id), ""),
        }
        callback = {
            "id": str(next(self._update_ids)),
            "from": self.user,
            "chat_instance": str(chat_id),
            "data": button.get("callback_data"),
            "message": message,
        }
        self._post({"update_id": next(self._update_ids), "callback_query": callback})

    def _speak_as(self, argument: str) -> None:
        if not argument:
            user = self.user
            self.sandbox.screen.show(f"(you are Telegram user {user['id']}, @{user['username']})")
            return
        if not argument.isdigit() or int(argument) < 1:
            self.sandbox.screen.show("(usage: /as <telegram user id>, a positive whole number, e.g. /as 10002)")
            return
        self.sandbox.user_id = int(argument)
        user = self.user
        self.sandbox.screen.show(
            f"(you are now Telegram user {user['id']}, @{user['username']}, in their own chat with the bot; "
            f"/as {DEFAULT_USER_ID} switches back)"
        )

    def _post(self, update: dict[str, Any]) -> None:
        try:
            response = requests.post(self.webhook_url, json=update, headers={SECRET_HEADER: self.secret}, timeout=70)
        except requests.RequestException as error:
            self.sandbox.screen.show(f"(the webhook did not answer: {type(error).__name__}; see .devstack/webhook.log)")
            return
        if response.status_code != 200:
            self.sandbox.screen.show(f"(webhook answered {response.status_code}: {response.text[:200]})")
            return
        run_webhook_answer(response, f"{self.sandbox.base_url}/bot{self.sandbox.token}/")


def run(sandbox: Sandbox, webhook_url: str, secret: str) -> None:
    """Read lines until EOF (Ctrl-D) and post each as an update; Ctrl-C raises KeyboardInterrupt."""
    chat = TerminalChat(sandbox, webhook_url, secret)
    sandbox.screen.show(WELCOME)
    while True:
        try:
            line = sandbox.screen.read_line()
        except EOFError:
            return
        chat.handle(line)
