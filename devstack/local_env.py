"""What `make run` keeps between runs and hands to other shells: fixed ports, secrets, and `.devstack/env`.

Ports come from DEVSTACK_*_PORT (a free port each run without them). The three secrets come from the
environment when it sets them; otherwise they are generated once into `<state dir>/secrets.json` and reused,
so a CRM configured against the local notify keeps working across runs. `.devstack/env` is a shell file
(`source .devstack/env`) with the URLs, secrets, the emulator and the demo users' CRM ids.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import socket
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.config import WEBHOOK_SECRET_PATTERN

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR_VARIABLE = "DEVSTACK_DIR"
PORT_VARIABLES = {
    "webhook": "DEVSTACK_WEBHOOK_PORT",
    "notify": "DEVSTACK_NOTIFY_PORT",
    "admin": "DEVSTACK_ADMIN_PORT",
    "emulator": "DEVSTACK_EMULATOR_PORT",
}
SECRET_NAMES = ("TG_WEBHOOK_SECRET", "NOTIFY_SIGNING_SECRET", "ADMIN_API_TOKEN", "LINK_CODE_API_TOKEN")
URL_VARIABLES = {"webhook": "WEBHOOK_URL", "notify": "NOTIFY_URL", "admin": "ADMIN_URL"}


class LocalSettingError(RuntimeError):
    """A DEVSTACK_* setting cannot be used; the message says what to change."""


@dataclass(frozen=True)
class DemoUser:
    """A demo CRM account, as the CRM's calls name it (notify's user_id, admin's POST /link-codes)."""

    crm_user_id: str
    email: str
    password: str
    role: str
    name: str
    org_id: str


def state_dir(environ: Mapping[str, str]) -> Path:
    """Where `make run` keeps its logs, secrets and env file: DEVSTACK_DIR, or .devstack/ in the repository."""
    return Path(environ.get(STATE_DIR_VARIABLE) or ROOT / ".devstack").resolve()


def chosen_port(service: str, environ: Mapping[str, str]) -> int | None:
    """The port DEVSTACK_<SERVICE>_PORT fixes (checked free), or None for any free port."""
    variable = PORT_VARIABLES[service]
    value = environ.get(variable, "").strip()
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise LocalSettingError(f"{variable}={value!r} is not a port number (1-65535): fix it or unset it")
    port = int(value)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: past TIME_WAIT, not LISTEN
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise LocalSettingError(
                f"{variable}={port}: the port is in use (another make run?): stop what uses it or choose another"
            ) from None
    return port


def stable_secrets(state: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The secrets of SECRET_NAMES: the environment's, else the saved ones."""
    path = state / "secrets.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        saved = {}
    if not isinstance(saved, dict):
        saved = {}
    generated = {
        name: value
        if isinstance(value := saved.get(name), str) and WEBHOOK_SECRET_PATTERN.match(value)
        else secrets.token_hex(32)
        for name in SECRET_NAMES
    }
    if generated != saved:
        _write_private(path, json.dumps(generated, indent=2) + "\n")
    return {name: environ.get(name) or generated[name] for name in SECRET_NAMES}


def write_env_file(path: Path, urls: Mapping[str, str], env: Mapping[str, str], users: list[DemoUser]) -> None:
    """Write the shell file another terminal sources to talk to this stack."""
    lines = [
        f"# Written by `make run` for the stack it is running. In another shell: source {shlex.quote(str(path))}",
        *(f"export {URL_VARIABLES[name]}={shlex.quote(url)}" for name, url in urls.items()),
        *(f"export {name}={shlex.quote(env[name])}" for name in SECRET_NAMES),
        f"export FIRESTORE_EMULATOR_HOST={shlex.quote(env['FIRESTORE_EMULATOR_HOST'])}",
        f"export GOOGLE_CLOUD_PROJECT={shlex.quote(env['GOOGLE_CLOUD_PROJECT'])}",
        *(
            f"export {name}={shlex.quote(env[name])}"
            for name in ("CRM_BACKEND", "CRM_API_URL", "CRM_SIGNING_SECRET")
            if env.get(name)
        ),
        "# The demo CRM users' crm_users ids (notify's user_id, admin's POST /link-codes): role, email, organisation",
    ]
    for variable, user in shell_names(users).items():
        lines.append(f"export {variable}={shlex.quote(user.crm_user_id)}  # {user.role}, {user.email}, {user.org_id}")
    _write_private(path, "\n".join(lines) + "\n")


def shell_names(users: list[DemoUser]) -> dict[str, DemoUser]:
    """DEMO_USER_<FIRST NAME> for each user (their CRM id when two share a first name)."""
    named: dict[str, DemoUser] = {}
    for user in users:
        variable = _variable("DEMO_USER_" + (user.name.split() or [user.crm_user_id])[0])
        if variable in named:
            variable = _variable("DEMO_USER_" + user.crm_user_id)
        named[variable] = user
    return named


def _variable(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()  # Zoë -> Zoe
    return re.sub(r"[^A-Z0-9_]", "_", ascii_text.upper())


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, 0o600)
