"""`make run` as a developer runs it: in a terminal, with a second shell that sources `.devstack/env`.

The whole stack runs once for this file (against the tests' Firestore emulator, in a project of its own,
with fixed ports): the env file, the README's notify examples run as written, the terminal chat seen
through a pseudo-terminal, the functions' request logs, and Ctrl-C, which stops it (the last test).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.emulator import Emulator, free_port
from devstack.local_env import chosen_port
from shared.bot.webhook import SECRET_HEADER
from shared.notify.signature import sign
from tests.harness import ROOT
from tests.terminal import Terminal

pytestmark = pytest.mark.emulator

STARTUP_SECONDS = 120.0
FUNCTION_PORTS = {"webhook": "DEVSTACK_WEBHOOK_PORT", "notify": "DEVSTACK_NOTIFY_PORT", "admin": "DEVSTACK_ADMIN_PORT"}
PROMPT = "you › "
REQUEST_LINE = re.compile(r" INFO shared\.request_log: (?P<request>(GET|POST|PUT|DELETE) /\S*: \d{3}) in \d+ ms$")
SHELL = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}


@dataclass
class LocalStack:
    """A running `make run`; `workdir/.devstack` is its state, as `.devstack` is the repository's."""

    terminal: Terminal
    workdir: Path
    environ: dict[str, str]
    ports: dict[str, int]

    @property
    def state(self) -> Path:
        return self.workdir / ".devstack"

    def sourced(self) -> dict[str, str]:
        """The variables a shell has after `source .devstack/env`."""
        done = self.shell("source .devstack/env && env -0")
        variables = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
        return {
            name: value for name, value in variables.items() if name not in SHELL and name not in ("PWD", "SHLVL", "_")
        }

    def shell(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run a bash script in a fresh shell in the working directory; it must succeed."""
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.workdir,
            env=SHELL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{script}\nfailed: {done.stderr}"
        return done

    def say(self, line: str, answer: str) -> None:
        """Type a line at the prompt and wait for the answer (a regex) and the next prompt."""
        self.terminal.type(line + "\r")
        self.terminal.expect(answer)
        self.terminal.expect(re.escape(PROMPT) + r"\Z")


def start_make_run(environ: dict[str, str]) -> Terminal:
    terminal = Terminal(["make", "--no-print-directory", "run"], environ, ROOT)
    try:
        terminal.expect(re.escape(PROMPT) + r"\Z", timeout=STARTUP_SECONDS)
    except AssertionError:
        terminal.kill()
        raise
    return terminal


def make_run_environ(emulator: Emulator, project: str, workdir: Path, **more: str) -> dict[str, str]:
    """What a developer's shell holds when they type `make run` (against the tests' emulator)."""
    return {
        **SHELL,
        "TERM": "xterm",
        "FIRESTORE_EMULATOR_HOST": emulator.host,
        "GOOGLE_CLOUD_PROJECT": project,
        "DEVSTACK_DIR": str(workdir / ".devstack"),
        "PASSWORD_CHECK_SECONDS": "0.2",
        **more,
    }


@pytest.fixture(scope="module")
def stack(emulator: Emulator, worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir = tmp_path_factory.mktemp("developer")
    ports = {name: free_port() for name in FUNCTION_PORTS}
    project = f"demo-devstack-{worker_id}"
    emulator.reset(project)  # an emulator that outlives the session may remember Alice's link
    environ = make_run_environ(
        emulator, project, workdir, **{variable: str(ports[name]) for name, variable in FUNCTION_PORTS.items()}
    )
    running = LocalStack(start_make_run(environ), workdir, environ, ports)
    yield running
    running.terminal.kill()


def readme_block(language: str, containing: str) -> str:
    """The README's fenced code block in this language that contains this text."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", readme, flags=re.MULTILINE | re.DOTALL)
    matching = [block for block in blocks if containing in block]
    assert len(matching) == 1, f"expected one {language} block with {containing!r} in the README"
    return str(matching[0])


def test_the_env_file_has_the_fixed_urls_the_printed_secrets_and_works(stack: LocalStack) -> None:
    sourced = stack.sourced()

    for name, port in stack.ports.items():
        assert sourced[f"{name.upper()}_URL"] == f"http://127.0.0.1:{port}"
    assert sourced["FIRESTORE_EMULATOR_HOST"] == stack.environ["FIRESTORE_EMULATOR_HOST"]
    assert sourced["GOOGLE_CLOUD_PROJECT"] == stack.environ["GOOGLE_CLOUD_PROJECT"]
    for secret in ("TG_WEBHOOK_SECRET", "NOTIFY_SIGNING_SECRET", "ADMIN_API_TOKEN"):
        assert f"  {secret}={sourced[secret]}\n" in stack.terminal.output
    assert f"  LINK_CODE_API_TOKEN={sourced['LINK_CODE_API_TOKEN']} " in stack.terminal.output
    assert f"source {stack.state / 'env'}" in stack.terminal.output
    assert stat.S_IMODE((stack.state / "env").stat().st_mode) == 0o600
    bot = requests.get(
        sourced["ADMIN_URL"] + "/bot/info",
        headers={"Authorization": f"Bearer {sourced['ADMIN_API_TOKEN']}"},
        timeout=30,
    )
    assert bot.status_code == 200, bot.text
    not_an_update = requests.post(
        sourced["WEBHOOK_URL"], json={}, headers={SECRET_HEADER: sourced["TG_WEBHOOK_SECRET"]}, timeout=30
    )
    assert not_an_update.status_code == 400


def test_the_readme_lists_the_demo_users_make_run_loads(stack: LocalStack) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| `([^`]+)` \| (\w+)", readme, flags=re.MULTILINE))
    printed = stack.terminal.output.split("Demo logins", 1)[1].split("\n\n", 1)[0]
    loaded = {
        (crm_id, email, password, role)
        for email, password, role, crm_id in re.findall(
            r"^  (\S+@\S+) +(\S+) +(\w+) +(\S+)$", printed, flags=re.MULTILINE
        )
    }

    assert len(loaded) == 9
    assert listed == loaded
    demo_variables = {value for name, value in stack.sourced().items() if name.startswith("DEMO_USER_")}
    assert demo_variables == {crm_id for crm_id, *_ in loaded}
    assert stack.sourced()["DEMO_USER_ALICE"] == "demo-org-user-alice-at-acme.example"


def test_the_readme_local_notify_example_reaches_alice_above_what_she_is_typing(stack: LocalStack) -> None:
    stack.say("/start", "send me your CRM account email address")
    stack.say("alice@acme.example", "enter your password")
    stack.say("demo-customer-1", re.escape(f"{PROMPT}•••••• (deleted)") + r"[\s\S]*Authentication successful")
    stack.terminal.type("/he")
    stack.terminal.expect(r"/he\Z")

    answer = stack.shell(readme_block("bash", "evt_local_")).stdout

    assert json.loads(answer)["results"][0]["status"] == "sent"
    stack.terminal.expect("Hello from the CRM")
    stack.terminal.expect(re.escape(" (http://localhost:3000"))  # the link's URL is shown
    stack.terminal.expect("\n" + re.escape(PROMPT + "/he") + r"\Z")  # the prompt is back, with what was typed
    stack.say("lp", r"Commands[\s\S]*/orders")  # and what was typed is still the line being edited


def test_the_readme_tours_link_code_links_a_user_without_a_password(stack: LocalStack) -> None:
    answer = stack.shell(readme_block("bash", "LINK_CODE_API_TOKEN")).stdout
    deep_link = json.loads(answer)["deep_link"]
    code = deep_link.rsplit("?start=", 1)[1]
    stack.say("/as 10004", "10004")
    stack.say(f"/start {code}", r"Authentication successful[\s\S]*Uma")
    stack.say("/me", "uma@umbrella.example")


def test_the_readme_tours_vendor_step_moves_a_deal_with_buttons_and_confirm(stack: LocalStack) -> None:
    stack.say("/as 10005", "10005")
    stack.say("/start", "send me your CRM account email address")
    stack.say("vendor@demo.example", "enter your password")
    stack.say("demo-vendor-1", "Authentication successful")
    stack.say("/stage 14", r"Which stage should deal 14 move to[\s\S]*\[5\] closed won")
    stack.say("/press 5", r"→ closed_won[\s\S]*\[1\] ✅ Confirm")
    stack.say("/press 1", "Done")


def test_the_readme_python_notify_example_works_locally_without_an_identity_token(stack: LocalStack) -> None:
    namespace: dict[str, Any] = {}
    exec(readme_block("python", "def notify("), namespace)  # noqa: S102 (the README's own example)
    notify: Callable[..., dict[str, Any]] = namespace["notify"]
    sourced = stack.sourced()
    event = {
        "id": f"evt_python_{time.time_ns()}",
        "type": "order.shipped",
        "occurred_at": "2024-01-15T16:06:00Z",
        "user_id": sourced["DEMO_USER_GARY"],
        "data": {"order_id": "ord_9", "order_number": 1042},
    }

    answer = notify(sourced["NOTIFY_URL"], sourced["NOTIFY_SIGNING_SECRET"], [event], identity_token=False)

    assert [(result["id"], result["status"]) for result in answer["results"]] == [(event["id"], "not_linked")]


def test_the_notify_guide_curl_example_works_after_sourcing_the_env_file(stack: LocalStack) -> None:
    guide = (ROOT / "docs" / "notify.md").read_text(encoding="utf-8")
    curl = re.search(r"^### curl\n.*?^```bash\n(.*?)^```$", guide, flags=re.MULTILINE | re.DOTALL)
    assert curl is not None

    answer = stack.shell("source .devstack/env\n" + curl.group(1)).stdout

    assert json.loads(answer)["results"][0]["status"] in ("not_linked", "duplicate")


def _requests_logged(log: Path) -> list[str]:
    """`METHOD /path: STATUS` of each request line of a function's log."""
    lines = log.read_text(encoding="utf-8").splitlines()
    return [match["request"] for line in lines if (match := REQUEST_LINE.search(line))]


def _wait_for_requests(log: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while len(_requests_logged(log)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # and no more come
    return _requests_logged(log)


def test_each_function_logs_one_line_per_request_and_no_secret_or_text(stack: LocalStack) -> None:
    sourced = stack.sourced()
    logs = {name: stack.state / f"{name}.log" for name in ("webhook", "notify", "admin")}
    before = {name: len(_requests_logged(log)) for name, log in logs.items()}
    text = f"a text that stays out of logs {time.time_ns()}"
    body = json.dumps(
        {
            "id": f"evt_{time.time_ns()}",
            "type": "message",
            "occurred_at": "2024-01-15T14:30:00Z",
            "user_id": "nobody",
            "data": {"text": text},
        }
    ).encode()
    signature = sign(body, sourced["NOTIFY_SIGNING_SECRET"], int(time.time()))
    admin = {"Authorization": f"Bearer {sourced['ADMIN_API_TOKEN']}"}

    assert requests.get(sourced["NOTIFY_URL"], timeout=30).status_code == 405
    assert requests.post(sourced["NOTIFY_URL"], data=body, timeout=30).status_code == 401
    signed = {"X-Signature": signature, "Content-Type": "application/json"}
    assert requests.post(sourced["NOTIFY_URL"], data=body, headers=signed, timeout=30).status_code == 200
    assert requests.get(sourced["ADMIN_URL"] + "/stats?days=7", headers=admin, timeout=30).status_code == 200
    assert requests.get(sourced["ADMIN_URL"] + "/no-such-route", headers=admin, timeout=30).status_code == 404
    webhook = {SECRET_HEADER: sourced["TG_WEBHOOK_SECRET"]}
    assert requests.post(sourced["WEBHOOK_URL"], json={}, headers=webhook, timeout=30).status_code == 400

    assert _wait_for_requests(logs["notify"], before["notify"] + 3)[before["notify"] :] == [
        "GET /: 405",
        "POST /: 401",
        "POST /: 200",
    ]
    assert _wait_for_requests(logs["admin"], before["admin"] + 2)[before["admin"] :] == [
        "GET /stats: 200",
        "GET /no-such-route: 404",
    ]
    assert _wait_for_requests(logs["webhook"], before["webhook"] + 1)[before["webhook"] :] == ["POST /: 400"]
    everything = "".join(log.read_text(encoding="utf-8") for log in logs.values())
    for secret in ("TG_WEBHOOK_SECRET", "NOTIFY_SIGNING_SECRET", "ADMIN_API_TOKEN"):
        assert sourced[secret] not in everything
    assert text not in everything
    assert "demo-customer-1" not in everything


# This one stops the stack: it stays the last test of the file.
def test_ctrl_c_stops_everything_quietly_and_the_next_run_keeps_its_urls_and_secrets(stack: LocalStack) -> None:
    first = stack.sourced()

    stack.terminal.interrupt()
    exit_code = stack.terminal.wait(timeout=60)

    shown = stack.terminal.output
    assert "■ stopping" in shown
    assert "Traceback" not in shown
    assert "make: ***" not in shown
    assert "Interrupt" not in shown
    assert exit_code in (0, -2)  # make ends itself with Ctrl-C's SIGINT, silently, as it should
    for name, variable in FUNCTION_PORTS.items():
        assert chosen_port(name, {variable: str(stack.ports[name])}) == stack.ports[name]  # nothing left serving

    again = start_make_run({**stack.environ, "NOTIFY_SIGNING_SECRET": "set-in-the-environment"})
    try:
        second = stack.sourced()
    finally:
        again.interrupt()
        assert again.wait(timeout=60) in (0, -2)

    assert {name: second[name] for name in first if name != "NOTIFY_SIGNING_SECRET"} == {
        name: value for name, value in first.items() if name != "NOTIFY_SIGNING_SECRET"
    }
    assert second["NOTIFY_SIGNING_SECRET"] == "set-in-the-environment"


def test_make_run_with_crm_backend_rest_serves_the_bot_from_the_reference_crm(
    emulator: Emulator, worker_id: str, tmp_path: Path
) -> None:
    """CRM_BACKEND=rest: `make run` starts the reference CRM over the demo data, and nothing of the CRM's goes
    into Firestore; a demo login and a command work end to end over HTTP."""
    project = f"demo-devstack-rest-{worker_id}"
    emulator.reset(project)
    environ = make_run_environ(emulator, project, tmp_path, CRM_BACKEND="rest")
    running = LocalStack(start_make_run(environ), tmp_path, environ, {})
    try:
        assert "CRM over HTTP (CRM_BACKEND=rest): CRM_API_URL=http://127.0.0.1:" in running.terminal.output
        sourced = running.sourced()
        assert sourced["CRM_BACKEND"] == "rest"
        assert sourced["CRM_API_URL"].startswith("http://127.0.0.1:")
        running.say("/start", "send me your CRM account email address")
        running.say("vendor@demo.example", "enter your password")
        running.say("demo-vendor-1", "Authentication successful")
        running.say("/deals", r"Open deals[\s\S]*Deal \d+ · Wayne Garage")
        from google.cloud import firestore

        client = firestore.Client(project=project)
        assert list(client.collection("crm_users").limit(1).stream()) == []
        assert list(client.collection("tg_links").limit(1).stream()) != []
    finally:
        running.terminal.kill()
