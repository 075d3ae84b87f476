"""Serving a Cloud Function over HTTP on loopback, and the secrets the test environment uses."""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "test-webhook-secret_1"
NOTIFY_SECRET = "test-notify-signing-secret"
ADMIN_TOKEN = "test-admin-token"
LINK_CODE_TOKEN = "test-link-code-token"


@dataclass
class FunctionServer:
    """One Cloud Function served over HTTP on loopback by functions-framework's own app."""

    url: str
    server: BaseWSGIServer
    bot_api: str | None = None
    """For the webhook: the Bot API (`{base}/bot{token}/`) that runs the method its answers name, as Telegram does."""

    def post(self, path: str = "/", timeout: float = 30, **kwargs: Any) -> requests.Response:
        response = requests.post(self.url + path, timeout=timeout, **kwargs)
        if self.bot_api is not None:
            run_webhook_answer(response, self.bot_api)
        return response

    def get(self, path: str = "/", **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=30, **kwargs)

    def request(self, method: str, path: str = "/", **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, timeout=30, **kwargs)


def run_webhook_answer(response: requests.Response, bot_api: str) -> None:
    """What Telegram does with a webhook's 200 answer that names a method: calls it, and tells no one the result."""
    if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("application/json"):
        return
    answer = response.json()
    if isinstance(answer, dict) and isinstance(answer.get("method"), str):
        params = {key: value for key, value in answer.items() if key != "method"}
        requests.post(bot_api + answer["method"], json=params, timeout=30)


def serve_function(name: str, target: str) -> FunctionServer:
    import functions_framework

    app = functions_framework.create_app(target, str(ROOT / "functions" / name / "main.py"))  # type: ignore[no-untyped-call]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return FunctionServer(f"http://127.0.0.1:{server.server_port}", server)


class VirtualClock:
    """A monotonic clock whose sleep only moves it on: code timed by an injected clock is tested without waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise RuntimeError(f"tried to reach {host}: tests and benchmarks may only use loopback")
    return _real_connect(self, address)


def forbid_network() -> None:
    """Make any connection beyond loopback fail at once instead of leaving the machine (or hanging)."""
    socket.socket.connect = _loopback_only  # type: ignore[method-assign,assignment]
