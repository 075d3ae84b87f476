"""What `make run` keeps between runs: secrets generated once, fixed ports checked, the env file's names."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest

from devstack.local_env import (
    SECRET_NAMES,
    DemoUser,
    LocalSettingError,
    chosen_port,
    shell_names,
    stable_secrets,
)
from shared.config import WEBHOOK_SECRET_PATTERN


def test_secrets_are_generated_once_and_reused(tmp_path: Path) -> None:
    first = stable_secrets(tmp_path, {})
    second = stable_secrets(tmp_path, {})

    assert first == second
    assert set(first) == set(SECRET_NAMES)
    assert all(WEBHOOK_SECRET_PATTERN.match(value) for value in first.values())
    assert len(set(first.values())) == len(SECRET_NAMES)
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600


def test_a_secret_from_the_environment_wins_without_replacing_the_saved_one(tmp_path: Path) -> None:
    saved = stable_secrets(tmp_path, {})

    overridden = stable_secrets(tmp_path, {"NOTIFY_SIGNING_SECRET": "from-the-environment"})
    after = stable_secrets(tmp_path, {})

    assert overridden == {**saved, "NOTIFY_SIGNING_SECRET": "from-the-environment"}
    assert after == saved


def test_an_unusable_saved_secret_is_replaced(tmp_path: Path) -> None:
    saved = stable_secrets(tmp_path, {})
    (tmp_path / "secrets.json").write_text(json.dumps({**saved, "TG_WEBHOOK_SECRET": "not allowed!"}))

    repaired = stable_secrets(tmp_path, {})

    assert repaired["NOTIFY_SIGNING_SECRET"] == saved["NOTIFY_SIGNING_SECRET"]
    assert WEBHOOK_SECRET_PATTERN.match(repaired["TG_WEBHOOK_SECRET"])
    assert json.loads((tmp_path / "secrets.json").read_text()) == repaired


def test_without_a_port_setting_any_free_port_is_used() -> None:
    assert chosen_port("notify", {}) is None
    assert chosen_port("notify", {"DEVSTACK_NOTIFY_PORT": " "}) is None


def test_a_fixed_port_must_be_a_free_port_number() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalSettingError, match=f"DEVSTACK_ADMIN_PORT={port}: the port is in use"):
            chosen_port("admin", {"DEVSTACK_ADMIN_PORT": str(port)})
    assert chosen_port("admin", {"DEVSTACK_ADMIN_PORT": str(port)}) == port
    with pytest.raises(LocalSettingError, match="DEVSTACK_WEBHOOK_PORT='80a' is not a port number"):
        chosen_port("webhook", {"DEVSTACK_WEBHOOK_PORT": "80a"})


def test_demo_users_get_shell_names_from_their_first_names() -> None:
    def user(crm_user_id: str, name: str) -> DemoUser:
        return DemoUser(crm_user_id, f"{crm_user_id}@example.com", "pw", "customer", name, "org-1")

    named = shell_names([user("u-1", "Alice Acme"), user("u-2", "Zoë Ray"), user("org-2-alice", "Alice Other")])

    assert {name: u.crm_user_id for name, u in named.items()} == {
        "DEMO_USER_ALICE": "u-1",
        "DEMO_USER_ZOE": "u-2",
        "DEMO_USER_ORG_2_ALICE": "org-2-alice",
    }
