"""`make run`: the whole stack on this machine.

Starts the Firestore emulator (unless FIRESTORE_EMULATOR_HOST is set), loads the demo CRM data, serves the
three functions on localhost with functions-framework, then either
- with TG_BOT_TOKEN set: runs the bot against real Telegram by long polling, posting each update to the
  local webhook exactly as Telegram would (secret header included), or
- without it: opens a terminal chat: what you type goes to the local webhook as a Telegram update, and the
  bot's Bot API calls go to a local sandbox Bot API that prints its messages here.
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import requests

from devstack import terminal_chat
from devstack.emulator import Emulator, existing_or_new_emulator, free_port

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {"webhook": "telegram_webhook", "notify": "notify", "admin": "admin"}
DEMO_PROJECT = "demo-crm-bot"


def main() -> int:
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stop)
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(KeyboardInterrupt):
            run_stack(stack)
        print("\n■ stopping …", flush=True)
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (or SIGTERM): leave whatever runs, once; a second Ctrl-C must not cut the clean-up short."""
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_stack(stack: contextlib.ExitStack) -> None:
    """Start everything (each stop registered on `stack`), then chat or poll until EOF or Ctrl-C."""
    state_dir = ROOT / ".devstack"
    state_dir.mkdir(exist_ok=True)
    real_telegram = bool(os.environ.get("TG_BOT_TOKEN"))
    print("▶ starting the Firestore emulator …", flush=True)
    emulator = existing_or_new_emulator(state_dir / "emulator.log")
    stack.callback(emulator.stop)
    sandbox = None
    if not real_telegram:
        sandbox = terminal_chat.start_sandbox()
        stack.callback(sandbox.stop)
    env = function_environment(emulator, sandbox.token if sandbox else None, sandbox.base_url if sandbox else None)
    os.environ.update({k: v for k, v in env.items() if k in ("FIRESTORE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")})
    logins = load_demo_data()
    urls = {}
    for name, target in FUNCTIONS.items():
        port = free_port()
        stack.enter_context(serve(name, target, port, env, state_dir / f"{name}.log"))
        urls[name] = f"http://127.0.0.1:{port}"
    for url in urls.values():
        wait_until_serving(url)
    print_summary(urls, env, logins, state_dir)
    if real_telegram:
        from devstack import polling

        polling.run(env, urls["webhook"])
    else:
        assert sandbox is not None
        terminal_chat.run(sandbox, urls["webhook"], env["TG_WEBHOOK_SECRET"])


def function_environment(emulator: Emulator, sandbox_token: str | None, sandbox_url: str | None) -> dict[str, str]:
    """The environment the local functions run with: the caller's settings, filled in where missing."""
    env = dict(os.environ)
    env.setdefault("GOOGLE_CLOUD_PROJECT", DEMO_PROJECT)
    env["FIRESTORE_EMULATOR_HOST"] = emulator.host
    env.setdefault("TG_WEBHOOK_SECRET", secrets.token_hex(16))
    env.setdefault("NOTIFY_SIGNING_SECRET", secrets.token_hex(16))
    env.setdefault("ADMIN_API_TOKEN", secrets.token_hex(16))
    env.setdefault("WEBSITE_URL", "http://localhost:3000")
    if sandbox_token and sandbox_url:
        env["TG_BOT_TOKEN"] = sandbox_token
        env["TELEGRAM_API_BASE"] = sandbox_url
    env["PYTHONPATH"] = str(ROOT)
    return env


def load_demo_data() -> list[tuple[str, str, str]]:
    """Load the demo organisation into the emulator; returns (email, password, role) of the demo logins."""
    from shared.crm.demo import DEMO_DATA_PATH
    from shared.crm.demo import load_demo_data as load

    return load(DEMO_DATA_PATH)


@contextlib.contextmanager
def serve(name: str, target: str, port: int, env: dict[str, str], log_path: Path) -> Iterator[None]:
    """Serve one function with functions-framework, as Cloud Functions does."""
    executable = Path(sys.executable).with_name("functions-framework")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(executable),
                "--source",
                str(ROOT / "functions" / name / "main.py"),
                "--target",
                target,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)


def wait_until_serving(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start: see .devstack/*.log")


def print_summary(urls: dict[str, str], env: dict[str, str], logins: list[tuple[str, str, str]], state: Path) -> None:
    print("\n✔ the stack is up")
    for name, url in urls.items():
        print(f"  {name:8} {url}")
    print(f"  Firestore emulator {env['FIRESTORE_EMULATOR_HOST']} (project {env['GOOGLE_CLOUD_PROJECT']})")
    print(f"  ADMIN_API_TOKEN={env['ADMIN_API_TOKEN']}  NOTIFY_SIGNING_SECRET={env['NOTIFY_SIGNING_SECRET']}")
    print(f"  logs in {state}/")
    if not env.get("GEMINI_API_KEY"):
        print("  GEMINI_API_KEY is not set: commands work, the assistant will say it is not configured")
    print("\nDemo logins (email / password / role):")
    for email, password, role in logins:
        print(f"  {email:32} {password:18} {role}")
    print()


if __name__ == "__main__":
    sys.exit(main())
