"""One cold start, run in a fresh interpreter by benchmark 3:

    python -m bench.cold_start_probe <function> <target> <request> <spawned-at>

imports functions-framework, loads the function's main.py by path (as the runtime does), serves one request
with the app's test client, and prints the timings as one JSON line. Nothing else is imported at the top, so
what the function pulls in is what the figures show.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()
STARTED_WALL = time.time()

import hashlib  # noqa: E402
import hmac  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def request_for(function: str, kind: str) -> dict[str, Any]:
    """The keyword arguments of the test client's request: an unauthenticated one, or a real first request."""
    if kind == "unauthenticated":
        return {"method": "GET" if function == "admin" else "POST", "path": "/", "data": b"{}"}
    if function == "webhook":
        update = {
            "update_id": uuid.uuid4().int % 2**31,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": 9_500_001, "type": "private"},
                "from": {"id": 9_500_001, "is_bot": False, "first_name": "Cold"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        secret = os.environ["TG_WEBHOOK_SECRET"]
        return {
            "method": "POST",
            "path": "/",
            "data": json.dumps(update).encode(),
            "headers": {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
        }
    if function == "notify":
        event = {
            "id": f"cold-{uuid.uuid4().hex}",
            "type": "file.received",
            "occurred_at": "2024-01-15T14:30:00Z",
            "user_id": "nobody-at-all",
            "data": {"file_id": "f1", "file_name": "cold.bin"},
        }
        body = json.dumps(event).encode()
        stamp = str(int(time.time()))
        mac = hmac.new(os.environ["NOTIFY_SIGNING_SECRET"].encode(), stamp.encode() + b"." + body, hashlib.sha256)
        return {
            "method": "POST",
            "path": "/",
            "data": body,
            "headers": {"X-Signature": f"t={stamp},v1={mac.hexdigest()}", "Content-Type": "application/json"},
        }
    token = os.environ["ADMIN_API_TOKEN"]
    return {"method": "GET", "path": "/audit?limit=1", "headers": {"Authorization": f"Bearer {token}"}}


def main() -> None:
    function, target, kind, spawned_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    before_framework = time.perf_counter()
    import functions_framework

    framework_ready = time.perf_counter()
    app = functions_framework.create_app(target, str(ROOT / "functions" / function / "main.py"))  # type: ignore[no-untyped-call]
    imported = time.perf_counter()
    arguments = request_for(function, kind)
    response = app.test_client().open(**arguments)
    answered = time.perf_counter()
    since_spawn = time.time() - spawned_at
    genai_imported = "google.genai" in sys.modules
    extra: dict[str, float] = {}
    if function == "webhook":
        # What the instance's first assistant message adds: the agent modules and google-genai, imported lazily.
        importlib.import_module("shared.agent.turn")

        extra["assistant_import_s"] = time.perf_counter() - answered
    print(
        json.dumps(
            {
                **extra,
                "interpreter_s": STARTED_WALL - spawned_at + (before_framework - STARTED),
                "framework_import_s": framework_ready - before_framework,
                "main_import_s": imported - framework_ready,
                "first_request_s": answered - imported,
                "since_spawn_s": since_spawn,
                "status": response.status_code,
                "genai_imported": genai_imported,
                "modules": len(sys.modules),
            }
        )
    )


if __name__ == "__main__":
    main()
