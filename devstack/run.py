"""`make run`: the whole stack on this machine.

Starts the Firestore emulator (unless FIRESTORE_EMULATOR_HOST is set), loads the demo CRM data, serves the
three functions on localhost with functions-framework, writes `.devstack/env` for other shells, then either
- with TG_BOT_TOKEN set: runs the bot against real Telegram by long polling, posting each update to the
  local webhook exactly as Telegram would (secret header included), or
- without it: opens a terminal chat: what you type goes to the local webhook as a Telegram update, and the
  bot's Bot API calls go to a local sandbox Bot API that prints its messages here.
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import contextlib
import os
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
from devstack.local_env import (
    ROOT,
    DemoUser,
    LocalSettingError,
    chosen_port,
    stable_secrets,
    state_dir,
    write_env_file,
)

FUNCTIONS = {"webhook": "telegram_webhook", "notify": "notify", "admin": "admin"}
DEMO_PROJECT = "demo-crm-bot"


def main() -> int:
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stop)
    try:
        with contextlib.ExitStack() as stack:
            with contextlib.suppress(KeyboardInterrupt):
                run_stack(stack)
            print("\n■ stopping …", flush=True)
    except LocalSettingError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C (or SIGTERM): leave whatever runs, once; a second Ctrl-C must not cut the clean-up short."""
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_stack(stack: contextlib.ExitStack) -> None:
    """Start everything (each stop registered on `stack`), then chat or poll until EOF or Ctrl-C."""
    state = state_dir(os.environ)
    state.mkdir(parents=True, exist_ok=True)
    real_telegram = bool(os.environ.get("TG_BOT_TOKEN"))
    ports = {name: chosen_port(name, os.environ) for name in FUNCTIONS}
    ports["emulator"] = None if os.environ.get("FIRESTORE_EMULATOR_HOST") else chosen_port("emulator", os.environ)
    print("▶ starting the Firestore emulator …", flush=True)
    emulator = existing_or_new_emulator(state / "emulator.log", ports["emulator"])
    stack.callback(emulator.stop)
    sandbox = None
    if not real_telegram:
        sandbox = terminal_chat.start_sandbox()
        stack.callback(sandbox.stop)
    env = function_environment(emulator, state, sandbox)
    os.environ.update({k: v for k, v in env.items() if k in ("FIRESTORE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")})
    if env.get("CRM_BACKEND") == "rest" and not env.get("CRM_API_URL"):
        print("▶ starting the reference CRM (CRM_BACKEND=rest) …", flush=True)
        env.update(stack.enter_context(reference_crm(state / "reference_crm.log")))
        users = reference_demo_users()
    elif env.get("CRM_BACKEND") == "rest":
        users = []  # the CRM at CRM_API_URL has its own users: log in with yours
    else:
        users = load_demo_users()
    urls = {}
    for name, target in FUNCTIONS.items():
        port = ports[name] or free_port()
        stack.enter_context(serve(name, target, port, env, state / f"{name}.log"))
        urls[name] = f"http://127.0.0.1:{port}"
    for url in urls.values():
        wait_until_serving(url)
    write_env_file(state / "env", urls, env, users)
    print_summary(urls, env, users, state)
    if real_telegram:
        from devstack import polling

        polling.run(env, urls["webhook"])
    else:
        assert sandbox is not None
        terminal_chat.run(sandbox, urls["webhook"], env["TG_WEBHOOK_SECRET"])


def function_environment(emulator: Emulator, state: Path, sandbox: terminal_chat.Sandbox | None) -> dict[str, str]:
    """The environment the local functions run with: the caller's settings, filled in where missing."""
    env = dict(os.environ)
    env.setdefault("GOOGLE_CLOUD_PROJECT", DEMO_PROJECT)
    env["FIRESTORE_EMULATOR_HOST"] = emulator.host
    env.update(stable_secrets(state, os.environ))
    env.setdefault("WEBSITE_URL", "http://localhost:3000")
    if sandbox is not None:
        env["TG_BOT_TOKEN"] = sandbox.token
        env["TELEGRAM_API_BASE"] = sandbox.base_url
    env["PYTHONPATH"] = str(ROOT)
    return env


def load_demo_users() -> list[DemoUser]:
    """Load the demo organisations into the emulator; returns their users who can log in, with their CRM ids."""
    from shared.crm.demo import DEMO_DATA_PATH, load_demo_data
    from shared.crm.firestore_crm import FirestoreCrm

    users = []
    for email, password, role in load_demo_data(DEMO_DATA_PATH):
        account = FirestoreCrm().find_user_by_email(email)
        if account is None:
            raise RuntimeError(f"the demo user {email} was loaded but cannot be found in crm_users")
        users.append(DemoUser(account.id, email, password, role, account.name, account.org_id))
    return users


@contextlib.contextmanager
def reference_crm(log_path: Path) -> Iterator[dict[str, str]]:
    """The reference CRM over the demo data (python -m devstack.reference_crm); yields CRM_API_URL and
    CRM_SIGNING_SECRET as it prints them."""
    from shared.crm.demo import DEMO_DATA_PATH

    command = [sys.executable, "-m", "devstack.reference_crm", "--data", str(DEMO_DATA_PATH), "--port", "0"]
    with log_path.open("a", encoding="utf-8") as log:
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert server.stdout is not None
            printed: dict[str, str] = {}
            while len(printed) < 2:
                line = server.stdout.readline()
                if not line:
                    raise RuntimeError(f"the reference CRM stopped before it served: see {log_path}")
                name, _, value = line.strip().partition("=")
                if name in ("CRM_API_URL", "CRM_SIGNING_SECRET"):
                    printed[name] = value
            yield {"CRM_BACKEND": "rest", **printed}
        finally:
            server.terminate()
            server.wait(10)


def reference_demo_users() -> list[DemoUser]:
    """The demo file's users who can log in, as the reference CRM serves them (nothing goes into Firestore)."""
    from devstack.reference_crm.data import load_with_logins
    from shared.crm.demo import DEMO_DATA_PATH

    data, logins = load_with_logins(DEMO_DATA_PATH)
    users = []
    for email, password, role in logins:
        account = data.user_by_email(email)
        if account is None:
            raise RuntimeError(f"the demo user {email} is not among the reference CRM's users")
        users.append(DemoUser(account.id, email, password, role, account.name, account.org_id))
    return users


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


def print_summary(urls: dict[str, str], env: dict[str, str], users: list[DemoUser], state: Path) -> None:
    print("\n✔ the stack is up")
    for name, url in urls.items():
        print(f"  {name:8} {url}")
    print(f"  Firestore emulator {env['FIRESTORE_EMULATOR_HOST']} (project {env['GOOGLE_CLOUD_PROJECT']})")
    print(f"  TG_WEBHOOK_SECRET={env['TG_WEBHOOK_SECRET']}")
    print(f"  NOTIFY_SIGNING_SECRET={env['NOTIFY_SIGNING_SECRET']}")
    print(f"  ADMIN_API_TOKEN={env['ADMIN_API_TOKEN']}")
    print(f"  LINK_CODE_API_TOKEN={env['LINK_CODE_API_TOKEN']} (the website's: it can only make link codes)")
    if env.get("CRM_BACKEND") == "rest":
        print(f"  CRM over HTTP (CRM_BACKEND=rest): CRM_API_URL={env['CRM_API_URL']}, its secret in the env file")
    print(f"  these, and the demo users' CRM ids: source {_shown(state / 'env')}   logs: {_shown(state)}/")
    if not env.get("GEMINI_API_KEY"):
        print("  GEMINI_API_KEY is not set: every change has a command (/help); free text points to them")
    print("\nDemo logins (email / password / role / CRM user id):")
    for user in users:
        print(f"  {user.email:26} {user.password:16} {user.role:9} {user.crm_user_id}")
    print()


def _shown(path: Path) -> str:
    """The path relative to the current directory when it is below it (what one would type)."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


if __name__ == "__main__":
    sys.exit(main())
