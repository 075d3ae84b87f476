"""A fake Telegram Bot API server on loopback: records every call and answers like Telegram does.

It speaks the real wire format (POST /bot<token>/<method>, JSON in, {"ok": ...} out), checks what
Telegram checks for the methods we use (token, the length of messages, edits and callback answers, HTML
entities: parsed by TDLib, Telegram's own library, through tdjson), and can be told to fail: 429 with
retry_after, 403 "bot was blocked by the user", 400, 5xx, or a slow answer.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tdjson import td_execute

MAX_TEXT_UTF16 = 4096
MAX_CALLBACK_ANSWER_UTF16 = 200


@dataclass
class Call:
    """One Bot API request the fake received."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class ParsedText:
    """A message text as Telegram stores it: what the user sees and its entities, or why Telegram refused it."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)  # Bot API MessageEntity objects
    error: str | None = None  # the Bot API's description after "Bad Request: "


# TDLib's entity types that the Bot API names otherwise than by snake-casing them.
_BOT_API_ENTITY_TYPES = {
    "TextUrl": "text_link",
    "PreCode": "pre",
    "BlockQuote": "blockquote",
    "ExpandableBlockQuote": "expandable_blockquote",
    "MentionName": "text_mention",
}


def _tdlib(request: dict[str, Any]) -> dict[str, Any]:
    answer = td_execute(json.dumps(request).encode())
    assert answer is not None, f"TDLib does not execute {request['@type']} synchronously"
    result: dict[str, Any] = json.loads(answer)
    return result


@functools.cache
def _quiet_tdlib() -> None:
    _tdlib({"@type": "setLogVerbosityLevel", "new_verbosity_level": 0})


def _bot_api_entity(entity: dict[str, Any]) -> dict[str, Any]:
    kind = entity["type"]
    name = kind["@type"].removeprefix("textEntityType")
    type_ = _BOT_API_ENTITY_TYPES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    converted = {"type": type_, "offset": entity["offset"], "length": entity["length"]}
    for field_name in ("language", "url", "custom_emoji_id"):
        if kind.get(field_name):
            converted[field_name] = kind[field_name]
    if "user_id" in kind:
        converted["user"] = {"id": kind["user_id"], "is_bot": False, "first_name": ""}
    return converted


def parse_text(text: str, parse_mode: str | None) -> ParsedText:
    """Parse a message text as Telegram does: HTML with TDLib's own parser, anything else as plain text."""
    if (parse_mode or "").upper() != "HTML":
        return ParsedText(text)
    _quiet_tdlib()
    parsed = _tdlib({"@type": "parseTextEntities", "text": text, "parse_mode": {"@type": "textParseModeHTML"}})
    if parsed["@type"] == "error":
        message = str(parsed["message"])
        return ParsedText(text, error=message[:1].lower() + message[1:])  # "Can't parse entities: ..."
    return ParsedText(parsed["text"], [_bot_api_entity(entity) for entity in parsed["entities"]])


def visible_text(text: str, parse_mode: str | None) -> tuple[str, str | None]:
    """(the text a user would see, why Telegram refuses it or None)."""
    parsed = parse_text(text, parse_mode)
    return parsed.text, parsed.error


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class FakeTelegram:
    """The fake server. Use as a context manager, or start()/stop()."""

    token: str = "123456:TEST-token"
    bot_username: str = "crm_test_bot"
    calls: list[Call] = field(default_factory=list)
    on_call: Callable[[Call], None] | None = None  # before the fake answers
    on_answer: Callable[[Call, dict[str, Any]], None] | None = None  # with the answer's JSON, before it is sent
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _blocked_chats: set[int] = field(default_factory=set)
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _updates_ready: threading.Condition = field(default_factory=threading.Condition)
    _webhook: dict[str, Any] = field(default_factory=lambda: {"url": "", "pending_update_count": 0})
    _server: ThreadingHTTPServer | None = None

    # ----- control -----
    def start(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, payload = fake._answer(self.path, raw, self.headers.get("Content-Type", ""))
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeTelegram is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._failures.clear()
            self._blocked_chats.clear()
            self._updates.clear()

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` calls of `method` with this error (after `delay` seconds)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([Failure(status, description, retry_after, delay)] * times)

    def block(self, chat_id: int) -> None:
        """The user of this private chat blocked the bot: sends get 403 until unblock()."""
        with self._lock:
            self._blocked_chats.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        with self._lock:
            self._blocked_chats.discard(chat_id)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (long polling)."""
        with self._updates_ready:
            self._updates.append(update)
            self._updates_ready.notify_all()

    def new_message_id(self) -> int:
        """The id of a message the user sends: one sequence for both sides of every chat, as in private chats."""
        return next(self._message_ids)

    # ----- reading what the bot did -----
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of every sendMessage (to one chat, if given), in order."""
        return [
            str(call.params.get("text"))
            for call in self.calls_to("sendMessage")
            if chat_id is None or call.params.get("chat_id") == chat_id
        ]

    def last_text(self, chat_id: int | None = None) -> str:
        texts = self.sent_texts(chat_id)
        assert texts, "the bot sent no message"
        return texts[-1]

    # ----- the server side -----
    def _answer(self, path: str, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix) :].split("?")[0]
        try:
            params = json.loads(raw or b"{}") if "json" in content_type or raw.startswith(b"{") else {}
        except json.JSONDecodeError:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid JSON"}
        call = Call(method, params, time.monotonic())
        with self._lock:
            self.calls.append(call)
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
        if self.on_call is not None:
            self.on_call(call)
        status, payload = self._result(call, failure)
        if self.on_answer is not None:
            self.on_answer(call, payload)
        return status, payload

    def _result(self, call: Call, failure: Failure | None) -> tuple[int, dict[str, Any]]:
        if failure is not None:
            time.sleep(failure.delay)
            error: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                error["parameters"] = {"retry_after": failure.retry_after}
            return failure.status, error
        handler = getattr(self, f"_method_{call.method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        result = handler(call.params)
        if isinstance(result, tuple):
            return result
        return 200, {"ok": True, "result": result}

    def _bad(self, description: str) -> tuple[int, dict[str, Any]]:
        return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}

    def _method_getMe(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return {
            "id": int(self.token.split(":")[0]),
            "is_bot": True,
            "first_name": "CRM Bot",
            "username": self.bot_username,
        }

    def _method_sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            return self._bad("chat not found")
        if chat_id in self._blocked_chats:
            return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
        parsed = self._judge_text(params, too_long="message is too long")
        if isinstance(parsed, tuple):
            return parsed
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": parsed.text,
        }
        return message | ({"entities": parsed.entities} if parsed.entities else {})

    def _judge_text(self, params: dict[str, Any], too_long: str) -> ParsedText | tuple[int, dict[str, Any]]:
        """The text as Telegram stores it, or Telegram's answer refusing it (empty, bad entities, too long)."""
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._bad("message text is empty")
        parsed = parse_text(text, params.get("parse_mode"))
        if parsed.error:
            return self._bad(parsed.error)
        if not parsed.text.strip():
            return self._bad("message text is empty")
        if utf16_len(parsed.text) > MAX_TEXT_UTF16:  # counted after entity parsing, as Telegram does
            return self._bad(too_long)
        return parsed

    def _method_editMessageText(self, params: dict[str, Any]) -> Any:  # noqa: N802
        judged = self._judge_text(params, too_long="MESSAGE_TOO_LONG")
        return judged if isinstance(judged, tuple) else True

    def _method_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:  # noqa: N802
        if not isinstance(params.get("chat_id"), int) or not isinstance(params.get("message_id"), int):
            return self._bad("message to edit not found")
        return True

    def _method_deleteMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    def _method_sendChatAction(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    def _method_answerCallbackQuery(self, params: dict[str, Any]) -> Any:  # noqa: N802
        text = params.get("text")
        if isinstance(text, str) and utf16_len(text) > MAX_CALLBACK_ANSWER_UTF16:
            return self._bad("MESSAGE_TOO_LONG")
        return True

    def _method_setMyCommands(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    def _method_deleteMyCommands(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    def _method_setWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        self._webhook = {
            "url": params.get("url", ""),
            "pending_update_count": 0,
            "allowed_updates": params.get("allowed_updates"),
        }
        return True

    def _method_deleteWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        self._webhook = {"url": "", "pending_update_count": 0}
        return True

    def _method_getWebhookInfo(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return {"has_custom_certificate": False, **self._webhook}

    def _method_getUpdates(self, params: dict[str, Any]) -> Any:  # noqa: N802
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self._updates_ready:
            while True:
                self._updates[:] = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or time.monotonic() >= deadline:
                    return list(self._updates)
                self._updates_ready.wait(timeout=max(0.0, deadline - time.monotonic()))
