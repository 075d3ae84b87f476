"""A fake Gemini Developer API server for tests, spoken to by the real google-genai client.

Standard library only. The server listens on an ephemeral loopback port; point the real client at it:

    with FakeGemini() as fake:
        fake.enqueue(text("hello"))
        client = genai.Client(
            api_key="test-key",
            http_options=types.HttpOptions(base_url=fake.base_url),
        )
        client.models.generate_content(model="gemini-3-flash", contents="hi").text  # "hello"

Wire format (verified against google-genai 3.6.1, Gemini Developer API / "mldev" mode):

* ``POST {base_url}/{api_version}/models/{model}:generateContent``. google-genai 3.6.1 defaults
  ``api_version`` to ``v1`` (``v1beta`` only with ``GOOGLE_GENAI_API_VERSION=beta`` or
  ``HttpOptions(api_version="v1beta")``), so any version segment is accepted here.
* The API key travels in the ``x-goog-api-key`` header (never in the query string).
* Request body is camelCase JSON: ``contents[].role/parts[]``, parts carry ``text``,
  ``functionCall{id,name,args}``, ``functionResponse{id,name,response}`` and ``thoughtSignature``
  (URL-safe base64 of the bytes); ``generationConfig`` holds the config, with ``tools``,
  ``toolConfig`` and ``systemInstruction`` hoisted to the top level.
* Response body is camelCase JSON: ``candidates[].content.parts[]``, ``candidates[].finishReason``,
  ``promptFeedback.blockReason``, ``usageMetadata.{promptTokenCount,candidatesTokenCount,
  totalTokenCount}``, ``modelVersion``, ``responseId``.
* Errors are ``{"error": {"code": int, "message": str, "status": "RESOURCE_EXHAUSTED"}}`` with the
  matching HTTP status; the client raises ``errors.ClientError`` (4xx) / ``errors.ServerError`` (5xx).

Scripted replies are consumed in order, one per ``generateContent`` call. ``countTokens`` does not
consume the queue: it answers ``{"totalTokens": n}`` with a rough estimate (characters / 4).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import threading
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "DEFAULT_THOUGHT_SIGNATURE",
    "NO_REPLY_LEFT",
    "FakeGemini",
    "RecordedRequest",
    "Reply",
    "Scripted",
    "ScriptFunction",
    "Slow",
    "blocked_prompt",
    "empty_candidates",
    "empty_content",
    "error",
    "function_calls",
    "malformed_function_call",
    "slow",
    "text",
]

JSONDict = dict[str, Any]

NO_REPLY_LEFT = "FakeGemini: no scripted reply left"

# base64 of b"fake-thought-signature"; standard and URL-safe alphabets agree on it.
DEFAULT_THOUGHT_SIGNATURE = base64.b64encode(b"fake-thought-signature").decode("ascii")

_GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, JSON body and extra response headers."""

    body: JSONDict
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


ScriptFunction = Callable[[JSONDict], "Reply | JSONDict"]
"""A dynamic script: gets the parsed request JSON, returns a Reply or a 200 response body."""


@dataclass(frozen=True)
class Slow:
    """Wait ``seconds`` before answering with ``then`` (to exercise client timeouts)."""

    seconds: float
    then: Scripted


Scripted = Reply | Slow | ScriptFunction


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received, as it came over the wire."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names lower-cased."""
    body: Any
    """Parsed JSON body (None when empty or not valid JSON)."""
    raw_body: bytes
    raw_size: int
    api_version: str | None
    model: str | None
    """e.g. ``"gemini-3-flash"`` (without the ``models/`` prefix)."""
    action: str | None
    """e.g. ``"generateContent"`` or ``"countTokens"``."""

    @property
    def api_key(self) -> str | None:
        return self.headers.get("x-goog-api-key")

    @property
    def json(self) -> JSONDict:
        """The body as a dict (raises if the body was not a JSON object)."""
        if not isinstance(self.body, dict):
            raise TypeError(f"request body is not a JSON object: {self.body!r}")
        return self.body


# --------------------------------------------------------------------------------------------------
# Reply builders
# --------------------------------------------------------------------------------------------------


def _usage(prompt_tokens: int, candidates_tokens: int | None) -> JSONDict:
    usage: JSONDict = {"promptTokenCount": prompt_tokens}
    total = prompt_tokens
    if candidates_tokens is not None:
        usage["candidatesTokenCount"] = candidates_tokens
        total += candidates_tokens
    usage["totalTokenCount"] = total
    return usage


def _estimate_tokens(value: str) -> int:
    return max(1, math.ceil(len(value) / 4))


def text(
    reply: str,
    *,
    prompt_tokens: int = 10,
    candidates_tokens: int | None = None,
    finish_reason: str = "STOP",
) -> Reply:
    """A candidate with one text part, finishReason STOP and usageMetadata."""
    out_tokens = _estimate_tokens(reply) if candidates_tokens is None else candidates_tokens
    return Reply(
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": reply}], "role": "model"},
                    "finishReason": finish_reason,
                    "index": 0,
                }
            ],
            "usageMetadata": _usage(prompt_tokens, out_tokens),
        }
    )


def function_calls(
    calls: Sequence[tuple[str, Mapping[str, Any]]],
    thought_signature: str | None = DEFAULT_THOUGHT_SIGNATURE,
    *,
    ids: Sequence[str] | None = None,
    prompt_tokens: int = 10,
    candidates_tokens: int = 5,
) -> Reply:
    """One candidate with one functionCall part per call, ids ``call-1``, ``call-2``, ...

    Like Gemini 3, only the first functionCall part carries ``thoughtSignature`` (a base64 string).
    """
    if not calls:
        raise ValueError("function_calls() needs at least one call")
    call_ids = list(ids) if ids is not None else [f"call-{i}" for i in range(1, len(calls) + 1)]
    if len(call_ids) != len(calls):
        raise ValueError("ids must have one entry per call")
    parts: list[JSONDict] = []
    for index, ((name, args), call_id) in enumerate(zip(calls, call_ids, strict=True)):
        part: JSONDict = {"functionCall": {"id": call_id, "name": name, "args": dict(args)}}
        if index == 0 and thought_signature is not None:
            part["thoughtSignature"] = thought_signature
        parts.append(part)
    return Reply(
        {
            "candidates": [
                {
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": _usage(prompt_tokens, candidates_tokens),
        }
    )


def error(
    status: int,
    message: str,
    retry_after: float | None = None,
    *,
    status_name: str | None = None,
) -> Reply:
    """An HTTP error in Google's JSON shape ``{"error": {"code", "message", "status"}}``.

    With ``retry_after`` (seconds) the body also carries a ``google.rpc.RetryInfo`` detail
    (``retryDelay: "<n>s"``, as Gemini sends on 429) and the response a ``Retry-After`` header.
    """
    if status < 400:
        raise ValueError("error() needs a 4xx/5xx status")
    err: JSONDict = {
        "code": status,
        "message": message,
        "status": status_name or _GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    headers: dict[str, str] = {}
    if retry_after is not None:
        delay = f"{retry_after:g}s"
        err["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
        headers["Retry-After"] = str(math.ceil(retry_after))
    return Reply({"error": err}, status=status, headers=headers)


def blocked_prompt(reason: str = "SAFETY", *, prompt_tokens: int = 10) -> Reply:
    """``promptFeedback.blockReason`` and no candidates."""
    return Reply(
        {
            "promptFeedback": {"blockReason": reason},
            "usageMetadata": _usage(prompt_tokens, None),
        }
    )


def empty_candidates(*, prompt_tokens: int = 10) -> Reply:
    """A 200 with an empty ``candidates`` list (and no promptFeedback)."""
    return Reply({"candidates": [], "usageMetadata": _usage(prompt_tokens, None)})


def empty_content(finish_reason: str = "STOP", *, prompt_tokens: int = 10) -> Reply:
    """A candidate whose content has no parts (seen from real thinking models)."""
    return Reply(
        {
            "candidates": [{"content": {"role": "model"}, "finishReason": finish_reason, "index": 0}],
            "usageMetadata": _usage(prompt_tokens, None),
        }
    )


def malformed_function_call(*, prompt_tokens: int = 10) -> Reply:
    """A candidate with finishReason MALFORMED_FUNCTION_CALL and no content parts."""
    return Reply(
        {
            "candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL", "index": 0}],
            "usageMetadata": _usage(prompt_tokens, None),
        }
    )


def slow(seconds: float, then: Scripted) -> Slow:
    """Sleep ``seconds`` before answering with ``then``."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    return Slow(seconds, then)


# --------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------


def _count_text_chars(value: Any) -> int:
    if isinstance(value, dict):
        total = 0
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                total += len(item)
            else:
                total += _count_text_chars(item)
        return total
    if isinstance(value, list):
        return sum(_count_text_chars(item) for item in value)
    return 0


def _parse_path(path: str) -> tuple[str | None, str | None, str | None]:
    """``/v1beta/models/gemini-x:generateContent`` -> ("v1beta", "gemini-x", "generateContent")."""
    segments = path.strip("/").split("/")
    if len(segments) != 3 or segments[1] != "models" or ":" not in segments[2]:
        return None, None, None
    model, _, action = segments[2].rpartition(":")
    return segments[0], model, action


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGemini


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        reply = self.server.fake._handle(self.command, self.path, dict(self.headers.items()), raw)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        payload = json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired during a slow() reply).
            pass


class FakeGemini:
    """A loopback HTTP server answering ``generateContent`` with scripted replies, in order."""

    def __init__(self, *, api_key: str | None = None) -> None:
        """``api_key``: when set, requests without this ``x-goog-api-key`` get a 400 like Gemini's."""
        self._expected_api_key = api_key
        self._lock = threading.Lock()
        self._queue: deque[Scripted] = deque()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._response_ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        if self._server is not None:
            raise RuntimeError("FakeGemini already started")
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="FakeGemini", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wake handlers sleeping in slow()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (pass as ``HttpOptions(base_url=...)``)."""
        if self._server is None:
            raise RuntimeError("FakeGemini is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting ---------------------------------------------------------------------------------

    def enqueue(self, *replies: Scripted) -> None:
        """Append scripted replies; each generateContent request consumes the next one."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies have not been consumed yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def generate_requests(self) -> list[RecordedRequest]:
        """Only the generateContent requests."""
        return [r for r in self.requests if r.action == "generateContent"]

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    # -- request handling (runs on server threads) -------------------------------------------------

    def _handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        split = urlsplit(target)
        api_version, model, action = _parse_path(split.path)
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        record = RecordedRequest(
            method=method,
            path=split.path,
            query=parse_qs(split.query),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            raw_body=raw,
            raw_size=len(raw),
            api_version=api_version,
            model=model,
            action=action,
        )
        with self._lock:
            self._requests.append(record)

        if self._expected_api_key is not None and record.api_key != self._expected_api_key:
            return error(400, "API key not valid. Please pass a valid API key.")
        if method != "POST" or action not in ("generateContent", "countTokens"):
            return error(404, f"FakeGemini: no route for {method} {split.path}")
        if bad_json or not isinstance(body, dict):
            return error(400, "Invalid JSON payload received.")
        if action == "countTokens":
            return Reply({"totalTokens": _estimate_tokens("x" * _count_text_chars(body))})

        with self._lock:
            scripted = self._queue.popleft() if self._queue else None
        if scripted is None:
            return error(500, NO_REPLY_LEFT)
        reply = self._resolve(scripted, body)
        if reply.status == 200 and "error" not in reply.body:
            defaults: JSONDict = {"modelVersion": model, "responseId": f"fake-{next(self._response_ids)}"}
            reply = Reply({**defaults, **reply.body}, reply.status, reply.headers)
        return reply

    def _resolve(self, scripted: Scripted, body: JSONDict) -> Reply:
        while isinstance(scripted, Slow):
            if self._stopping.wait(scripted.seconds):
                return error(503, "FakeGemini: shutting down")
            scripted = scripted.then
        if isinstance(scripted, Reply):
            return scripted
        try:
            result = scripted(body)
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return error(500, f"FakeGemini: scripted callable raised {detail}")
        return result if isinstance(result, Reply) else Reply(result)
