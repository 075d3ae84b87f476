"""deploy.sh against a recording fake Google Cloud, the infra/ files, and the deploy bundles.

deploy.sh runs with fake `gcloud`, `curl` and `openssl` first on PATH. The fakes are small Python
scripts written into tmp_path: they log their argv (and stdin for secrets) and answer describe/list
calls from a state file, so a fresh project and a second run differ the way they do in Google Cloud.
The bundles are built into tmp_path and served by functions-framework from a clean interpreter.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import os
import pty
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from shared.config import WEBHOOK_SECRET_PATTERN, Settings
from shared.store.db import Collections

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_SH = ROOT / "deploy.sh"
INDEXES_FILE = ROOT / "infra" / "firestore.indexes.json"
ROLES_FILE = ROOT / "infra" / "roles.json"

PROJECT = "demo-proj"
REGION = "europe-west1"
BOT_TOKEN = "123456:AAE-fake_bot_token"
WEBSITE = "https://crm.example.com"
CRM_URL = "https://crm.example.com/bot-api"
GENERATED_SECRETS = ("TG_WEBHOOK_SECRET", "NOTIFY_SIGNING_SECRET", "ADMIN_API_TOKEN", "LINK_CODE_API_TOKEN")
APIS = (
    "cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com "
    "firestore.googleapis.com secretmanager.googleapis.com iam.googleapis.com "
    "cloudresourcemanager.googleapis.com logging.googleapis.com"
)
# The least a function needs: what deploy.sh must grant, and nothing more.
SECRETS_OF = {
    "webhook": ["TG_BOT_TOKEN", "TG_WEBHOOK_SECRET"],
    "notify": ["TG_BOT_TOKEN", "NOTIFY_SIGNING_SECRET"],
    "admin": ["TG_BOT_TOKEN", "TG_WEBHOOK_SECRET", "ADMIN_API_TOKEN", "LINK_CODE_API_TOKEN"],
}
TTL_COLLECTIONS = {
    Collections.PROCESSED_UPDATES,
    Collections.LOGIN_FLOWS,
    Collections.LOGIN_FAILURES,
    Collections.LINK_CODES,
    Collections.PENDING_ACTIONS,
    Collections.PAGE_CURSORS,
}


# ----- the fakes -----
FAKE_GCLOUD = r"""
import json, os, sys

args = sys.argv[1:]
entry = {"tool": "gcloud", "argv": args}


def flags(words):
    found = {}
    for word in words:
        if word.startswith("--"):
            key, _, value = word[2:].partition("=")
            found.setdefault(key, []).append(value)
    return found


def flag(key):
    return flags(args).get(key, [None])[0]


def finish(code=0, message=""):
    with open(os.environ["FAKE_CLOUD_LOG"], "a") as f:
        f.write(json.dumps(entry) + "\n")
    if message:
        sys.stderr.write(message + "\n")
    sys.exit(code)


with open(os.environ["FAKE_CLOUD_STATE"]) as f:
    state = json.load(f)
words = [w for w in args if not w.startswith("-")]
project = flag("project")
if flag("data-file") == "-":
    entry["stdin"] = sys.stdin.read()

if words[:2] == ["services", "enable"]:
    state["apis"] = sorted(set(state["apis"]) | set(words[2:]))
elif words[:3] == ["iam", "service-accounts", "describe"]:
    if words[3] not in state["service_accounts"]:
        finish(1, "NOT_FOUND: service account does not exist")
elif words[:3] == ["iam", "service-accounts", "create"]:
    email = f"{words[3]}@{project}.iam.gserviceaccount.com"
    if email in state["service_accounts"]:
        finish(1, "ALREADY_EXISTS: service account exists")
    state["service_accounts"].append(email)
elif words[:3] == ["iam", "service-accounts", "delete"]:
    state["service_accounts"].remove(words[3])
elif words[:2] in (["projects", "add-iam-policy-binding"], ["projects", "remove-iam-policy-binding"]):
    pass
elif words[:2] == ["secrets", "describe"]:
    if words[2] not in state["secrets"]:
        finish(1, "NOT_FOUND: Secret [%s] not found" % words[2])
elif words[:2] == ["secrets", "create"]:
    if words[2] in state["secrets"]:
        finish(1, "ALREADY_EXISTS: secret exists")
    state["secrets"][words[2]] = entry.get("stdin", "")
elif words[:2] == ["secrets", "add-iam-policy-binding"]:
    if words[2] not in state["secrets"]:
        finish(1, "NOT_FOUND: secret does not exist")
elif words[:4] == ["secrets", "versions", "access", "latest"]:
    sys.stdout.write(state["secrets"][flag("secret")])
elif words[:2] == ["secrets", "delete"]:
    del state["secrets"][words[2]]
elif words[:3] == ["firestore", "databases", "describe"]:
    if state["database"] is None:
        finish(1, "NOT_FOUND: database (default) does not exist")
    print(state["database"])
elif words[:3] == ["firestore", "databases", "create"]:
    state["database"] = flag("type").upper().replace("-", "_")
elif words[:4] == ["firestore", "indexes", "composite", "list"]:
    print(json.dumps(state["indexes"]))
elif words[:4] == ["firestore", "indexes", "composite", "create"]:
    fields = []
    for config in flags(args)["field-config"]:
        parts = dict(part.split("=", 1) for part in config.split(","))
        field = {"fieldPath": parts["field-path"]}
        if "order" in parts:
            field["order"] = parts["order"].upper()
        else:
            field["arrayConfig"] = parts["array-config"].upper()
        fields.append(field)
    fields.append({"fieldPath": "__name__", "order": fields[-1].get("order", "ASCENDING")})
    group = flag("collection-group")
    state["indexes"].append({
        "name": f"projects/{project}/databases/(default)/collectionGroups/{group}/indexes/i{len(state['indexes'])}",
        "queryScope": flag("query-scope").upper().replace("-", "_"),
        "fields": fields,
        "state": "CREATING",
    })
elif words[:4] == ["firestore", "fields", "ttls", "list"]:
    print(json.dumps(state["ttls"]))
elif words[:4] == ["firestore", "fields", "ttls", "update"]:
    group = flag("collection-group")
    state["ttls"].append({
        "name": f"projects/{project}/databases/(default)/collectionGroups/{group}/fields/{words[4]}",
        "ttlConfig": {"state": "CREATING"},
    })
elif words[:2] == ["functions", "deploy"]:
    env = dict(pair.split("=", 1) for pair in flag("set-env-vars").split(","))
    state["functions"][words[2]] = {"uri": f"https://{words[2]}-fake.a.run.app", "env": env}
elif words[:2] == ["functions", "describe"]:
    function = state["functions"].get(words[2])
    if function is None:
        finish(1, "NOT_FOUND: function %s does not exist" % words[2])
    wanted = flag("format") or ""
    env_prefix = "value(serviceConfig.environmentVariables."
    if wanted == "value(serviceConfig.uri)":
        print(function["uri"])
    elif wanted.startswith(env_prefix):
        print(function["env"].get(wanted[len(env_prefix):-1], ""))
    else:
        print(json.dumps(function))
elif words[:2] == ["functions", "add-invoker-policy-binding"]:
    pass
elif words[:2] == ["functions", "delete"]:
    del state["functions"][words[2]]
elif words[:2] == ["auth", "print-identity-token"]:
    print("fake-identity-token")
else:
    finish(99, "fake gcloud: unexpected command: %r" % (args,))

with open(os.environ["FAKE_CLOUD_STATE"], "w") as f:
    json.dump(state, f)
finish()
"""

FAKE_CURL = r"""
import json, os, sys

args = sys.argv[1:]
entry = {"tool": "curl", "argv": args, "headers": []}
out = write_out = None
i = 0
while i < len(args):
    arg = args[i]
    value = args[i + 1] if i + 1 < len(args) else None
    if arg == "-X":
        entry["method"] = value; i += 1
    elif arg == "-H":
        i += 1
        if value.startswith("@"):
            with open(value[1:]) as f:
                entry["headers"] += [line for line in f.read().splitlines() if line]
        else:
            entry["headers"].append(value)
    elif arg == "--data-binary":
        entry["body"] = value; i += 1
    elif arg == "-o":
        out = value; i += 1
    elif arg == "-w":
        write_out = value; i += 1
    elif arg == "--retry":
        i += 1
    elif arg.startswith("https://"):
        entry["url"] = arg
    i += 1
with open(os.environ["FAKE_CLOUD_LOG"], "a") as f:
    f.write(json.dumps(entry) + "\n")
status = os.environ.get("FAKE_ADMIN_STATUS", "200")
body = json.dumps({"ok": True} if status.startswith("2") else {"error": "fake admin says no"})
if out:
    with open(out, "w") as f:
        f.write(body)
else:
    sys.stdout.write(body)
if write_out:
    sys.stdout.write(status)
"""

FAKE_OPENSSL = r"""
import hashlib, json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_CLOUD_LOG"], "a") as f:
    f.write(json.dumps({"tool": "openssl", "argv": args}) + "\n")
if args != ["rand", "-hex", "32"]:
    sys.stderr.write("fake openssl: unexpected command %r\n" % (args,))
    sys.exit(99)
counter = os.environ["FAKE_CLOUD_STATE"] + ".openssl"
n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
with open(counter, "w") as f:
    f.write(str(n))
print(hashlib.sha256(b"generated-%d" % n).hexdigest())
"""


def _empty_project() -> dict[str, Any]:
    return {
        "apis": [],
        "service_accounts": [],
        "secrets": {},
        "database": None,
        "indexes": [],
        "ttls": [],
        "functions": {},
    }


@dataclass
class FakeCloud:
    """A fake Google Cloud project behind fake gcloud, curl and openssl in `bin_dir`."""

    bin_dir: Path
    state_file: Path
    log_file: Path
    build_dir: Path

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_file.read_text(encoding="utf-8")))

    def set_state(self, **changes: Any) -> None:
        self.state_file.write_text(json.dumps({**self.state, **changes}), encoding="utf-8")

    def calls(self, tool: str) -> list[dict[str, Any]]:
        """What the fake `tool` was asked since the last clear_log(), oldest first."""
        lines = self.log_file.read_text(encoding="utf-8").splitlines()
        return [entry for entry in map(json.loads, lines) if entry["tool"] == tool]

    def gcloud(self) -> list[list[str]]:
        """Every gcloud call as its argv (without 'gcloud')."""
        return [entry["argv"] for entry in self.calls("gcloud")]

    def clear_log(self) -> None:
        self.log_file.write_text("", encoding="utf-8")

    def deploy(
        self, *args: str, env: dict[str, str] | None = None, stdin: int = subprocess.DEVNULL
    ) -> subprocess.CompletedProcess[str]:
        """Run deploy.sh against this fake project; non-interactively (stdin is not a terminal) by default."""
        environment = {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.state_file.parent),
            "PYTHON": sys.executable,
            "FAKE_CLOUD_STATE": str(self.state_file),
            "FAKE_CLOUD_LOG": str(self.log_file),
            "DEPLOY_RETRY_DELAY": "0",
            **(env or {}),
        }
        return subprocess.run(
            [str(DEPLOY_SH), *args, "--build-dir", str(self.build_dir)],
            env=environment,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def new_fake_cloud(where: Path) -> FakeCloud:
    """An empty project: the fakes in where/bin, their state and log beside them."""
    bin_dir = where / "bin"
    bin_dir.mkdir()
    for name, source in (("gcloud", FAKE_GCLOUD), ("curl", FAKE_CURL), ("openssl", FAKE_OPENSSL)):
        script = bin_dir / name
        script.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
        script.chmod(0o755)
    fake = FakeCloud(bin_dir, where / "cloud.json", where / "calls.jsonl", where / "build")
    fake.state_file.write_text(json.dumps(_empty_project()), encoding="utf-8")
    fake.clear_log()
    return fake


def deployed(cloud: FakeCloud, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """deploy.sh --project demo-proj ARGS, which must succeed."""
    result = cloud.deploy("--project", PROJECT, *args, env={"TG_BOT_TOKEN": BOT_TOKEN, **env})
    assert result.returncode == 0, f"deploy.sh failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def cloud(tmp_path: Path) -> FakeCloud:
    return new_fake_cloud(tmp_path)


@dataclass
class FirstDeploy:
    """A first deploy into an empty project (TG_BOT_TOKEN set, no GEMINI_API_KEY), run once per module."""

    cloud: FakeCloud
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> FirstDeploy:
    cloud = new_fake_cloud(tmp_path_factory.mktemp("first-deploy"))
    return FirstDeploy(cloud, deployed(cloud, "--website-url", WEBSITE))


@pytest.fixture
def deployed_cloud(cloud: FakeCloud, first: FirstDeploy) -> FakeCloud:
    """A project as the first deploy left it, with an empty log."""
    cloud.state_file.write_text(first.cloud.state_file.read_text(encoding="utf-8"), encoding="utf-8")
    return cloud


# ----- what a fresh project must see -----
def email(function: str) -> str:
    return f"crm-bot-{function}@{PROJECT}.iam.gserviceaccount.com"


def index_commands() -> list[list[str]]:
    """`indexes composite create` for every index of infra/firestore.indexes.json, in file order."""
    commands = []
    for index in json.loads(INDEXES_FILE.read_text(encoding="utf-8"))["indexes"]:
        configs = [f"--field-config=field-path={f['fieldPath']},order={f['order'].lower()}" for f in index["fields"]]
        scope = index["queryScope"].lower().replace("_", "-")
        commands.append(
            [
                "firestore",
                "indexes",
                "composite",
                "create",
                f"--collection-group={index['collectionGroup']}",
                f"--query-scope={scope}",
                *configs,
                "--async",
                f"--project={PROJECT}",
            ]
        )
    return commands


def deploy_command(
    function: str, entry_point: str, access: str, secrets: list[str], resources: str, build_dir: Path, env: str = ""
) -> list[str]:
    mounts = ",".join(f"{name}={name}:latest" for name in secrets)
    return shlex.split(
        f"functions deploy crm-bot-{function} --gen2 --runtime=python312 --region={REGION} "
        f"--source={build_dir / function} --entry-point={entry_point} --trigger-http {access} "
        f"--service-account={email(function)} "
        f"--build-service-account=projects/{PROJECT}/serviceAccounts/{email('build')} "
        f"--set-secrets={mounts} --set-env-vars=GOOGLE_CLOUD_PROJECT={PROJECT},WEBSITE_URL={WEBSITE}{env} "
        f"{resources} --project={PROJECT} --quiet"
    )


def secrets_of(crm_url: str | None = None) -> dict[str, list[str]]:
    """What each function mounts: its own, and with a CRM reached over its API (rest) the CRM's signing key."""
    return {function: secrets + (["CRM_SIGNING_SECRET"] if crm_url else []) for function, secrets in SECRETS_OF.items()}


def fresh_project_commands(build_dir: Path, crm_url: str | None = None) -> list[list[str]]:
    """The gcloud calls of a first deploy with TG_BOT_TOKEN set and no GEMINI_API_KEY, in order.

    Without crm_url, no CRM setting is given (the default backend, firestore, after asking the webhook for the
    deployed one); with it, CRM_BACKEND=rest and CRM_API_URL=crm_url, which add CRM_SIGNING_SECRET to all three.
    """
    p = f"--project={PROJECT}"
    crm_env = f",CRM_BACKEND=rest,CRM_API_URL={crm_url}" if crm_url else ""
    commands = [["services", "enable", *APIS.split(), p]]
    for who, role in (
        ("webhook", "datastore.user"),
        ("notify", "datastore.user"),
        ("admin", "datastore.user"),
        ("build", "run.builder"),
    ):
        commands += [
            ["iam", "service-accounts", "describe", email(who), p],
            ["iam", "service-accounts", "create", f"crm-bot-{who}", f"--display-name=CRM bot: {who}", p],
            [
                "projects",
                "add-iam-policy-binding",
                PROJECT,
                f"--member=serviceAccount:{email(who)}",
                f"--role=roles/{role}",
                "--condition=None",
                "--quiet",
            ],
        ]
    if not crm_url:
        commands.append(
            [
                "functions",
                "describe",
                "crm-bot-webhook",
                f"--region={REGION}",
                "--format=value(serviceConfig.environmentVariables.CRM_BACKEND)",
                p,
            ]
        )
    for name in ("TG_BOT_TOKEN", *GENERATED_SECRETS, "GEMINI_API_KEY", *(["CRM_SIGNING_SECRET"] if crm_url else [])):
        commands.append(["secrets", "describe", name, p])
        if name != "GEMINI_API_KEY":
            commands.append(["secrets", "create", name, "--data-file=-", "--replication-policy=automatic", p])
    for function, secrets in secrets_of(crm_url).items():
        commands += [
            [
                "secrets",
                "add-iam-policy-binding",
                name,
                f"--member=serviceAccount:{email(function)}",
                "--role=roles/secretmanager.secretAccessor",
                p,
            ]
            for name in secrets
        ]
    commands += [
        ["firestore", "databases", "describe", "--format=value(type)", p],
        ["firestore", "databases", "create", f"--location={REGION}", "--type=firestore-native", p],
        ["firestore", "indexes", "composite", "list", "--format=json", p],
        *index_commands(),
        ["firestore", "fields", "ttls", "list", "--format=json", p],
        *[
            [
                "firestore",
                "fields",
                "ttls",
                "update",
                "expires_at",
                f"--collection-group={group}",
                "--enable-ttl",
                "--async",
                p,
            ]
            for group in (
                "tg_processed_updates",
                "tg_login_flows",
                "tg_login_failures",
                "tg_link_codes",
                "tg_pending_actions",
                "tg_page_cursors",
            )
        ],
        deploy_command(
            "webhook",
            "telegram_webhook",
            "--allow-unauthenticated",
            secrets_of(crm_url)["webhook"],
            "--memory=512Mi --timeout=60s --max-instances=10",
            build_dir,
            env=crm_env,
        ),
        deploy_command(
            "notify",
            "notify",
            "--no-allow-unauthenticated",
            secrets_of(crm_url)["notify"],
            # One instance serving 8 requests at once: one pacer for all of notify's sends.
            "--memory=512Mi --cpu=1 --concurrency=8 --timeout=60s --max-instances=1",
            build_dir,
            env=crm_env + ",THREADS=8",
        ),
        deploy_command(
            "admin",
            "admin",
            "--no-allow-unauthenticated",
            secrets_of(crm_url)["admin"],
            "--memory=256Mi --timeout=60s --max-instances=10",
            build_dir,
            env=crm_env,
        ),
        *[
            ["functions", "describe", f"crm-bot-{fn}", f"--region={REGION}", "--format=value(serviceConfig.uri)", p]
            for fn in ("webhook", "notify", "admin")
        ],
        ["secrets", "versions", "access", "latest", "--secret=ADMIN_API_TOKEN", p],
        ["auth", "print-identity-token"],
    ]
    return commands


CHANGING_VERBS = (
    "create",
    "update",
    "delete",
    "deploy",
    "add",
    "enable",
    "add-iam-policy-binding",
    "remove-iam-policy-binding",
    "add-invoker-policy-binding",
)


def changing(commands: list[list[str]]) -> list[list[str]]:
    """The calls that change the project (everything but describe/list/access/print)."""
    return [argv for argv in commands if any(word in CHANGING_VERBS for word in argv if not word.startswith("-"))]


# ----- deploy.sh: fresh project, second run, options -----
def test_fresh_project_runs_the_expected_commands_in_order(first: FirstDeploy) -> None:
    assert first.cloud.gcloud() == fresh_project_commands(first.cloud.build_dir)
    state = first.cloud.state
    assert state["database"] == "FIRESTORE_NATIVE"
    assert len(state["indexes"]) == len(index_commands())
    assert set(state["functions"]) == {"crm-bot-webhook", "crm-bot-notify", "crm-bot-admin"}


def test_fresh_project_secrets_come_from_the_environment_or_openssl(first: FirstDeploy) -> None:
    cloud, result = first.cloud, first.result
    secrets = cloud.state["secrets"]
    assert secrets["TG_BOT_TOKEN"] == BOT_TOKEN
    generated = [secrets[name] for name in GENERATED_SECRETS]
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in generated)
    assert len(set(generated)) == len(GENERATED_SECRETS)
    assert WEBHOOK_SECRET_PATTERN.match(secrets["TG_WEBHOOK_SECRET"])
    assert [call["argv"] for call in cloud.calls("openssl")] == [["rand", "-hex", "32"]] * len(GENERATED_SECRETS)
    # Secret values travel on stdin only: never in an argv, never printed.
    everything_shown = result.stdout + result.stderr + json.dumps(cloud.gcloud())
    for value in [BOT_TOKEN, *generated]:
        assert value not in everything_shown


def test_fresh_project_sets_the_webhook_and_syncs_commands_through_admin(first: FirstDeploy) -> None:
    cloud = first.cloud
    admin_token = cloud.state["secrets"]["ADMIN_API_TOKEN"]
    calls = cloud.calls("curl")
    assert [(call["method"], call["url"]) for call in calls] == [
        ("POST", "https://crm-bot-admin-fake.a.run.app/webhook/set"),
        ("POST", "https://crm-bot-admin-fake.a.run.app/commands/sync"),
    ]
    assert json.loads(calls[0]["body"]) == {"webhook_url": "https://crm-bot-webhook-fake.a.run.app"}
    for call in calls:
        assert f"Authorization: Bearer {admin_token}" in call["headers"]
        assert "X-Serverless-Authorization: Bearer fake-identity-token" in call["headers"]
        assert admin_token not in " ".join(call["argv"])


def test_fresh_project_prints_the_urls_and_how_to_call_notify(first: FirstDeploy) -> None:
    result = first.result
    for url in (
        "https://crm-bot-webhook-fake.a.run.app",
        "https://crm-bot-notify-fake.a.run.app",
        "https://crm-bot-admin-fake.a.run.app",
    ):
        assert url in result.stdout
    assert f"projects/{PROJECT}/secrets/NOTIFY_SIGNING_SECRET" in result.stdout
    assert f"projects/{PROJECT}/secrets/LINK_CODE_API_TOKEN" in result.stdout
    assert "X-Signature: t=$T,v1=$SIG" in result.stdout
    assert 'curl -X POST "https://crm-bot-notify-fake.a.run.app"' in result.stdout


def test_the_printed_signing_recipe_matches_hmac_sha256(first: FirstDeploy) -> None:
    recipe = next(line for line in first.result.stdout.splitlines() if "openssl dgst" in line)
    command = recipe.strip().removeprefix("SIG=$(").removesuffix(")")
    secret, body, t = "s3cret", '{"id":"e1"}', "1700000000"
    signed = subprocess.run(
        ["bash", "-c", command],
        env={**os.environ, "SECRET": secret, "BODY": body, "T": t},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert signed == hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()


def test_second_run_keeps_secrets_accounts_database_indexes_and_ttls(deployed_cloud: FakeCloud) -> None:
    cloud = deployed_cloud
    before = cloud.state

    deployed(cloud, "--website-url", WEBSITE)

    after = cloud.state
    assert after["secrets"] == before["secrets"]
    assert after["service_accounts"] == before["service_accounts"]
    assert after["indexes"] == before["indexes"]
    assert after["ttls"] == before["ttls"]
    assert cloud.calls("openssl") == []
    second = changing(cloud.gcloud())
    fresh = changing(fresh_project_commands(cloud.build_dir))
    # The same grants and deploys (they are idempotent in Google Cloud), and nothing is created again.
    assert second == [argv for argv in fresh if "create" not in argv and "update" not in argv]
    assert [argv[:2] for argv in second if argv[:2] == ["functions", "deploy"]] == [["functions", "deploy"]] * 3
    assert len(cloud.calls("curl")) == 2


def test_second_run_keeps_the_deployed_website_url_when_the_flag_is_left_out(deployed_cloud: FakeCloud) -> None:
    deployed(deployed_cloud)

    expected = f"--set-env-vars=GOOGLE_CLOUD_PROJECT={PROJECT},WEBSITE_URL={WEBSITE}"
    assert environments(deployed_cloud) == {"webhook": expected, "notify": expected + ",THREADS=8", "admin": expected}


def test_optional_settings_in_the_environment_reach_every_function(cloud: FakeCloud) -> None:
    deployed(
        cloud,
        "--website-url",
        WEBSITE,
        BOT_TIME_ZONE="Europe/Berlin",
        ASSISTANT_MESSAGES_PER_MINUTE="5",
        PASSWORD_CHECK_SECONDS="2.5",
    )

    expected = (
        f"--set-env-vars=GOOGLE_CLOUD_PROJECT={PROJECT},WEBSITE_URL={WEBSITE},"
        "BOT_TIME_ZONE=Europe/Berlin,ASSISTANT_MESSAGES_PER_MINUTE=5,PASSWORD_CHECK_SECONDS=2.5"
    )
    assert environments(cloud) == {"webhook": expected, "notify": expected + ",THREADS=8", "admin": expected}


def environments(cloud: FakeCloud) -> dict[str, str]:
    """The --set-env-vars argument of each function's deploy."""
    deploys = [argv for argv in cloud.gcloud() if argv[:2] == ["functions", "deploy"]]
    return {
        argv[2].removeprefix("crm-bot-"): next(arg for arg in argv if arg.startswith("--set-env-vars="))
        for argv in deploys
    }


def test_a_present_bot_token_secret_is_enough_without_the_environment(cloud: FakeCloud) -> None:
    cloud.set_state(secrets={"TG_BOT_TOKEN": "999:kept"})

    result = cloud.deploy("--project", PROJECT, "--website-url", WEBSITE)

    assert result.returncode == 0, result.stderr
    assert cloud.state["secrets"]["TG_BOT_TOKEN"] == "999:kept"
    assert ["secrets", "create", "TG_BOT_TOKEN"] not in [argv[:3] for argv in cloud.gcloud()]


def test_gemini_key_is_stored_and_mounted_on_the_webhook_only(cloud: FakeCloud) -> None:
    result = deployed(cloud, "--website-url", WEBSITE, GEMINI_API_KEY="gemini-key-1")

    assert cloud.state["secrets"]["GEMINI_API_KEY"] == "gemini-key-1"
    assert "gemini-key-1" not in result.stdout + result.stderr
    grants = [argv for argv in cloud.gcloud() if argv[:3] == ["secrets", "add-iam-policy-binding", "GEMINI_API_KEY"]]
    assert [argv[3] for argv in grants] == [f"--member=serviceAccount:{email('webhook')}"]
    deploys = {argv[2]: argv for argv in cloud.gcloud() if argv[:2] == ["functions", "deploy"]}
    assert "GEMINI_API_KEY=GEMINI_API_KEY:latest" in next(a for a in deploys["crm-bot-webhook"] if "secrets" in a)
    for other in ("crm-bot-notify", "crm-bot-admin"):
        assert "GEMINI_API_KEY" not in " ".join(deploys[other])


def test_the_link_code_token_is_generated_readable_and_mounted_by_admin_only(first: FirstDeploy) -> None:
    commands = first.cloud.gcloud()
    grants = [argv for argv in commands if argv[:3] == ["secrets", "add-iam-policy-binding", "LINK_CODE_API_TOKEN"]]
    assert [argv[3] for argv in grants] == [f"--member=serviceAccount:{email('admin')}"]
    deploys = {argv[2]: argv for argv in commands if argv[:2] == ["functions", "deploy"]}
    mounts = next(arg for arg in deploys["crm-bot-admin"] if arg.startswith("--set-secrets="))
    assert "LINK_CODE_API_TOKEN=LINK_CODE_API_TOKEN:latest" in mounts.split("=", 1)[1].split(",")
    for other in ("crm-bot-webhook", "crm-bot-notify"):
        assert "LINK_CODE_API_TOKEN" not in " ".join(deploys[other])
    secrets = first.cloud.state["secrets"]
    assert secrets["LINK_CODE_API_TOKEN"] not in (secrets["ADMIN_API_TOKEN"], first.result.stdout)


def test_a_project_deployed_before_the_link_code_token_gets_it_on_the_next_run(deployed_cloud: FakeCloud) -> None:
    kept = deployed_cloud.state["secrets"]
    deployed_cloud.set_state(secrets={name: value for name, value in kept.items() if name != "LINK_CODE_API_TOKEN"})

    deployed(deployed_cloud, "--website-url", WEBSITE)

    after = deployed_cloud.state["secrets"]
    assert re.fullmatch(r"[0-9a-f]{64}", after["LINK_CODE_API_TOKEN"])
    assert {name: after[name] for name in kept if name != "LINK_CODE_API_TOKEN"} == {
        name: value for name, value in kept.items() if name != "LINK_CODE_API_TOKEN"
    }
    assert [call["argv"] for call in deployed_cloud.calls("openssl")] == [["rand", "-hex", "32"]]


def test_without_gemini_key_the_assistant_is_off_with_a_warning(first: FirstDeploy) -> None:
    assert "GEMINI_API_KEY is not set: the assistant will be off" in first.result.stderr
    assert "GEMINI_API_KEY" not in first.cloud.state["secrets"]


def test_token_only_opens_notify_and_admin_and_needs_no_identity_token(cloud: FakeCloud) -> None:
    deployed(cloud, "--website-url", WEBSITE, "--token-only")

    deploys = [argv for argv in cloud.gcloud() if argv[:2] == ["functions", "deploy"]]
    assert all("--allow-unauthenticated" in argv for argv in deploys)
    assert ["auth", "print-identity-token"] not in cloud.gcloud()
    assert all(not h.startswith("X-Serverless-Authorization") for c in cloud.calls("curl") for h in c["headers"])


def test_notify_invokers_are_granted_on_notify(cloud: FakeCloud) -> None:
    crm = "serviceAccount:crm@other-project.iam.gserviceaccount.com"
    deployed(cloud, "--website-url", WEBSITE, "--notify-invoker", crm)

    assert [
        "functions",
        "add-invoker-policy-binding",
        "crm-bot-notify",
        f"--region={REGION}",
        f"--member={crm}",
        f"--project={PROJECT}",
    ] in cloud.gcloud()


def test_region_and_firestore_location_flags(cloud: FakeCloud) -> None:
    deployed(cloud, "--website-url", WEBSITE, "--region=us-central1", "--firestore-location", "nam5")

    commands = cloud.gcloud()
    assert [
        "firestore",
        "databases",
        "create",
        "--location=nam5",
        "--type=firestore-native",
        f"--project={PROJECT}",
    ] in commands
    assert all("--region=us-central1" in argv for argv in commands if argv[:2] == ["functions", "deploy"])


def test_admin_refusing_the_webhook_fails_the_deploy_clearly(cloud: FakeCloud) -> None:
    result = cloud.deploy(
        "--project", PROJECT, "--website-url", WEBSITE, env={"TG_BOT_TOKEN": BOT_TOKEN, "FAKE_ADMIN_STATUS": "401"}
    )

    assert result.returncode != 0
    assert "answered HTTP 401" in result.stderr
    assert "Telegram's webhook is not set" in result.stderr
    assert len(cloud.calls("curl")) == 1


def test_a_datastore_mode_database_is_refused(cloud: FakeCloud) -> None:
    cloud.set_state(database="DATASTORE_MODE")

    result = cloud.deploy("--project", PROJECT, env={"TG_BOT_TOKEN": BOT_TOKEN})

    assert result.returncode != 0
    assert "Native mode" in result.stderr
    assert not [argv for argv in cloud.gcloud() if argv[:2] == ["functions", "deploy"]]


# ----- deploy.sh: the CRM (CRM_BACKEND, CRM_API_URL, CRM_SIGNING_SECRET) -----
CRM_ENV = {"CRM_BACKEND": "rest", "CRM_API_URL": CRM_URL}


@pytest.fixture(scope="module")
def first_rest(tmp_path_factory: pytest.TempPathFactory) -> FirstDeploy:
    """A first deploy into an empty project with CRM_BACKEND=rest and CRM_API_URL, run once per module."""
    cloud = new_fake_cloud(tmp_path_factory.mktemp("first-rest-deploy"))
    return FirstDeploy(cloud, deployed(cloud, "--website-url", WEBSITE, **CRM_ENV))


@pytest.fixture
def deployed_rest_cloud(cloud: FakeCloud, first_rest: FirstDeploy) -> FakeCloud:
    """A project as the first rest deploy left it, with an empty log."""
    cloud.state_file.write_text(first_rest.cloud.state_file.read_text(encoding="utf-8"), encoding="utf-8")
    return cloud


def mounts(cloud: FakeCloud) -> dict[str, list[str]]:
    """The secrets each function's deploy mounts, by name."""
    deploys = [argv for argv in cloud.gcloud() if argv[:2] == ["functions", "deploy"]]
    return {
        argv[2].removeprefix("crm-bot-"): [
            mount.split("=", 1)[0]
            for arg in argv
            if arg.startswith("--set-secrets=")
            for mount in arg.removeprefix("--set-secrets=").split(",")
        ]
        for argv in deploys
    }


def test_rest_fresh_project_stores_grants_and_mounts_the_crm_signing_secret_in_all_three(
    first_rest: FirstDeploy,
) -> None:
    cloud = first_rest.cloud
    assert cloud.gcloud() == fresh_project_commands(cloud.build_dir, crm_url=CRM_URL)
    functions = cloud.state["functions"]
    for function in ("webhook", "notify", "admin"):
        env = functions[f"crm-bot-{function}"]["env"]
        assert (env["CRM_BACKEND"], env["CRM_API_URL"]) == ("rest", CRM_URL)


def test_rest_fresh_project_generates_the_crm_signing_secret_and_never_shows_it(first_rest: FirstDeploy) -> None:
    cloud, result = first_rest.cloud, first_rest.result
    secrets = cloud.state["secrets"]
    signing = secrets["CRM_SIGNING_SECRET"]
    assert re.fullmatch(r"[0-9a-f]{64}", signing)
    assert signing not in [secrets[name] for name in GENERATED_SECRETS]
    assert [call["argv"] for call in cloud.calls("openssl")] == [["rand", "-hex", "32"]] * (len(GENERATED_SECRETS) + 1)
    assert signing not in result.stdout + result.stderr + json.dumps(cloud.gcloud())


def test_rest_fresh_project_tells_where_the_crm_signing_secret_is_for_the_crm_team(first_rest: FirstDeploy) -> None:
    out = first_rest.result.stdout
    assert f"The bot calls the CRM's connector API at {CRM_URL} (CRM_BACKEND=rest)" in out
    assert "Give it to the CRM team" in out
    assert f"projects/{PROJECT}/secrets/CRM_SIGNING_SECRET" in out
    assert f"gcloud secrets versions access latest --secret=CRM_SIGNING_SECRET --project={PROJECT}" in out


def test_a_firestore_deploy_neither_creates_nor_mounts_the_crm_signing_secret(first: FirstDeploy) -> None:
    cloud, result = first.cloud, first.result
    assert "CRM_SIGNING_SECRET" not in cloud.state["secrets"]
    assert "CRM_SIGNING_SECRET" not in json.dumps(cloud.gcloud())
    assert all("CRM_BACKEND" not in function["env"] for function in cloud.state["functions"].values())
    assert "CRM_SIGNING_SECRET" not in result.stdout
    assert "The CRM writes the bot's Firestore (CRM_BACKEND=firestore)" in result.stdout


def test_the_crm_api_url_flag_means_rest_and_takes_the_secret_and_timeout_from_the_environment(
    cloud: FakeCloud,
) -> None:
    given = "f" * 64
    result = deployed(
        cloud,
        "--website-url",
        WEBSITE,
        f"--crm-api-url={CRM_URL}/",
        CRM_SIGNING_SECRET=given,
        CRM_API_TIMEOUT_SECONDS="12",
    )

    assert cloud.state["secrets"]["CRM_SIGNING_SECRET"] == given
    assert given not in result.stdout + result.stderr + json.dumps(cloud.gcloud())
    assert "<CRM_SIGNING_SECRET from the environment>" in result.stdout
    assert len(cloud.calls("openssl")) == len(GENERATED_SECRETS)
    # The trailing slash goes: the CRM checks the tokens' aud against CRM_API_URL exactly.
    expected = (
        f"--set-env-vars=GOOGLE_CLOUD_PROJECT={PROJECT},WEBSITE_URL={WEBSITE},"
        f"CRM_BACKEND=rest,CRM_API_URL={CRM_URL},CRM_API_TIMEOUT_SECONDS=12"
    )
    assert environments(cloud) == {"webhook": expected, "notify": expected + ",THREADS=8", "admin": expected}
    assert mounts(cloud) == secrets_of(CRM_URL)


def test_a_rest_rerun_keeps_the_crm_signing_secret(deployed_rest_cloud: FakeCloud) -> None:
    cloud = deployed_rest_cloud
    before = cloud.state["secrets"]

    result = deployed(cloud, "--website-url", WEBSITE, CRM_SIGNING_SECRET="e" * 64, **CRM_ENV)

    assert cloud.state["secrets"] == before
    assert cloud.calls("openssl") == []
    assert not [argv for argv in cloud.gcloud() if argv[:2] == ["secrets", "create"]]
    assert "secret CRM_SIGNING_SECRET exists: keeping its value" in result.stdout
    assert "gcloud secrets versions add CRM_SIGNING_SECRET" in result.stdout
    assert mounts(cloud) == secrets_of(CRM_URL)


def test_a_rerun_without_crm_settings_keeps_the_deployed_rest_backend(deployed_rest_cloud: FakeCloud) -> None:
    cloud = deployed_rest_cloud
    before = cloud.state["secrets"]

    result = deployed(cloud)

    assert f"keeping the deployed CRM_BACKEND=rest, CRM_API_URL={CRM_URL}" in result.stdout
    expected = (
        f"--set-env-vars=GOOGLE_CLOUD_PROJECT={PROJECT},WEBSITE_URL={WEBSITE},CRM_BACKEND=rest,CRM_API_URL={CRM_URL}"
    )
    assert environments(cloud) == {"webhook": expected, "notify": expected + ",THREADS=8", "admin": expected}
    assert mounts(cloud) == secrets_of(CRM_URL)
    assert cloud.state["secrets"] == before


def test_crm_backend_firestore_moves_a_rest_bot_back_and_keeps_the_unused_secret(
    deployed_rest_cloud: FakeCloud,
) -> None:
    cloud = deployed_rest_cloud
    before = cloud.state["secrets"]

    result = deployed(cloud, "--website-url", WEBSITE, CRM_BACKEND="firestore")

    expected = f"--set-env-vars=GOOGLE_CLOUD_PROJECT={PROJECT},WEBSITE_URL={WEBSITE},CRM_BACKEND=firestore"
    assert environments(cloud) == {"webhook": expected, "notify": expected + ",THREADS=8", "admin": expected}
    assert mounts(cloud) == secrets_of()
    assert "CRM_SIGNING_SECRET" not in json.dumps(cloud.gcloud())
    assert cloud.state["secrets"] == before
    assert "(CRM_BACKEND=firestore)" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"CRM_BACKEND": "rest"}, "CRM_BACKEND=rest needs the base URL of the CRM's connector API"),
        (("--crm-api-url", CRM_URL), {"CRM_BACKEND": "Rest"}, "CRM_BACKEND must be firestore"),
        ((), {"CRM_BACKEND": "sql"}, "or rest (the bot calls the CRM's API), not 'sql'"),
        (("--crm-api-url", CRM_URL), {"CRM_BACKEND": "firestore"}, "CRM_BACKEND=firestore does not call the CRM"),
        ((), {"CRM_API_URL": "crm.example.com"}, "must be an http(s) URL without commas or spaces"),
        (("--crm-api-url", "https://crm.example.com/a,b"), {}, "must be an http(s) URL without commas or spaces"),
        ((), {"CRM_API_TIMEOUT_SECONDS": "45"}, "CRM_API_TIMEOUT_SECONDS must be a number of seconds above 0"),
    ],
)
def test_bad_crm_settings_are_refused_before_any_gcloud_call(
    cloud: FakeCloud, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    # No TG_BOT_TOKEN either: the refusal comes before deploy.sh asks Secret Manager for it.
    result = cloud.deploy("--project", PROJECT, "--website-url", WEBSITE, *args, env=env)

    assert result.returncode != 0
    assert message in result.stderr
    assert cloud.log_file.read_text(encoding="utf-8") == ""
    assert cloud.state == _empty_project()


def test_dry_run_of_a_rest_deploy_prints_the_crm_secret_and_settings(cloud: FakeCloud) -> None:
    env = {"TG_BOT_TOKEN": BOT_TOKEN, "CRM_SIGNING_SECRET": "d" * 64, **CRM_ENV}
    result = cloud.deploy("--project", PROJECT, "--dry-run", "--website-url", WEBSITE, env=env)

    assert result.returncode == 0, result.stderr
    assert cloud.log_file.read_text(encoding="utf-8") == ""
    assert cloud.state == _empty_project()
    printed = [line.removeprefix("+ ") for line in result.stdout.splitlines() if line.startswith("+ ")]
    for argv in fresh_project_commands(cloud.build_dir, crm_url=CRM_URL):
        assert any(shlex.join(["gcloud", *argv]) in line for line in printed), argv
    assert any(line.startswith("printf '%s' <CRM_SIGNING_SECRET from the environment> | gcloud") for line in printed)
    assert f"projects/{PROJECT}/secrets/CRM_SIGNING_SECRET" in result.stdout
    assert "d" * 64 not in result.stdout + result.stderr


def test_a_plain_http_crm_url_and_a_short_signing_secret_are_warned_about(cloud: FakeCloud) -> None:
    env = {"TG_BOT_TOKEN": BOT_TOKEN, "CRM_SIGNING_SECRET": "short"}
    result = cloud.deploy("--project", PROJECT, "--dry-run", "--crm-api-url", "http://10.0.0.5:8765", env=env)

    assert result.returncode == 0, result.stderr
    assert "warning: CRM_API_URL is not https" in result.stderr
    assert "warning: CRM_SIGNING_SECRET is shorter than 32 characters" in result.stderr


def test_teardown_of_a_rest_project_deletes_the_crm_signing_secret(deployed_rest_cloud: FakeCloud) -> None:
    result = deployed_rest_cloud.deploy("--project", PROJECT, "--teardown", "--yes")

    assert result.returncode == 0, result.stderr
    assert deployed_rest_cloud.state["secrets"] == {}
    assert [
        "secrets",
        "delete",
        "CRM_SIGNING_SECRET",
        f"--project={PROJECT}",
        "--quiet",
    ] in deployed_rest_cloud.gcloud()


# ----- deploy.sh: what it refuses, --dry-run, --help -----
def test_dry_run_runs_nothing_and_prints_every_command(cloud: FakeCloud) -> None:
    result = cloud.deploy("--project", PROJECT, "--dry-run", "--website-url", WEBSITE, env={"TG_BOT_TOKEN": BOT_TOKEN})

    assert result.returncode == 0, result.stderr
    assert cloud.log_file.read_text(encoding="utf-8") == ""
    assert not cloud.build_dir.exists()
    assert cloud.state == _empty_project()
    printed = [line.removeprefix("+ ") for line in result.stdout.splitlines() if line.startswith("+ ")]
    for argv in fresh_project_commands(cloud.build_dir):
        assert any(shlex.join(["gcloud", *argv]) in line for line in printed), argv
    assert any("build_bundles.py --out" in line for line in printed)
    assert any(line.startswith("curl") and "/webhook/set" in line for line in printed)
    assert BOT_TOKEN not in result.stdout + result.stderr


def test_dry_run_needs_no_bot_token(cloud: FakeCloud) -> None:
    result = cloud.deploy("--project", PROJECT, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert cloud.log_file.read_text(encoding="utf-8") == ""


def test_help_exits_zero_with_usage(cloud: FakeCloud) -> None:
    result = cloud.deploy("--help")

    assert result.returncode == 0
    assert "Usage: ./deploy.sh --project ID" in result.stdout
    for option in ("--region", "--dry-run", "--token-only", "--website-url", "--crm-api-url", "--teardown"):
        assert option in result.stdout
    for setting in ("CRM_BACKEND", "CRM_API_URL", "CRM_SIGNING_SECRET", "CRM_API_TIMEOUT_SECONDS"):
        assert setting in result.stdout
    assert cloud.log_file.read_text(encoding="utf-8") == ""


def test_missing_project_fails_with_a_clear_message(cloud: FakeCloud) -> None:
    result = cloud.deploy(env={"TG_BOT_TOKEN": BOT_TOKEN})

    assert result.returncode != 0
    assert "--project is required" in result.stderr
    assert cloud.log_file.read_text(encoding="utf-8") == ""


def test_unknown_argument_fails_with_a_clear_message(cloud: FakeCloud) -> None:
    result = cloud.deploy("--project", PROJECT, "--regoin", "x")

    assert result.returncode != 0
    assert "unknown argument '--regoin'" in result.stderr


def test_missing_bot_token_when_not_interactive_fails_before_changing_anything(cloud: FakeCloud) -> None:
    result = cloud.deploy("--project", PROJECT)

    assert result.returncode != 0
    assert "TG_BOT_TOKEN is not set" in result.stderr
    assert "@BotFather" in result.stderr
    assert cloud.gcloud() == [["secrets", "describe", "TG_BOT_TOKEN", f"--project={PROJECT}"]]


def test_a_malformed_bot_token_is_refused(cloud: FakeCloud) -> None:
    result = cloud.deploy("--project", PROJECT, env={"TG_BOT_TOKEN": "not a token"})

    assert result.returncode != 0
    assert "does not look like a bot token" in result.stderr
    assert cloud.gcloud() == []


def test_missing_bot_token_is_asked_for_in_a_terminal(cloud: FakeCloud) -> None:
    terminal, stdin = pty.openpty()
    try:
        os.write(terminal, f"{BOT_TOKEN}\n".encode())
        result = cloud.deploy("--project", PROJECT, "--website-url", WEBSITE, stdin=stdin)
    finally:
        os.close(stdin)
        os.close(terminal)

    assert result.returncode == 0, result.stderr
    assert "Telegram bot token (from @BotFather):" in result.stderr
    assert cloud.state["secrets"]["TG_BOT_TOKEN"] == BOT_TOKEN


# ----- deploy.sh --teardown -----
def test_teardown_deletes_functions_accounts_and_secrets_but_keeps_firestore(deployed_cloud: FakeCloud) -> None:
    cloud = deployed_cloud
    result = cloud.deploy("--project", PROJECT, "--teardown", "--yes")

    assert result.returncode == 0, result.stderr
    state = cloud.state
    assert state["functions"] == {}
    assert state["service_accounts"] == []
    assert state["secrets"] == {}
    assert state["database"] == "FIRESTORE_NATIVE"
    assert state["indexes"]
    assert [(c["method"], c["url"]) for c in cloud.calls("curl")] == [
        ("DELETE", "https://crm-bot-admin-fake.a.run.app/webhook")
    ]
    assert not any(argv[:2] == ["firestore", "databases"] for argv in changing(cloud.gcloud()))


def test_teardown_without_confirmation_deletes_nothing(deployed_cloud: FakeCloud) -> None:
    cloud = deployed_cloud
    before = cloud.state

    result = cloud.deploy("--project", PROJECT, "--teardown")

    assert result.returncode != 0
    assert "--yes" in result.stderr
    assert cloud.state == before
    assert cloud.gcloud() == []


def test_teardown_dry_run_deletes_nothing_and_prints_the_deletes(deployed_cloud: FakeCloud) -> None:
    before = deployed_cloud.state

    result = deployed_cloud.deploy("--project", PROJECT, "--teardown", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert deployed_cloud.state == before
    assert deployed_cloud.log_file.read_text(encoding="utf-8") == ""
    for deletion in (
        f"gcloud functions delete crm-bot-webhook --region={REGION} --project={PROJECT} --quiet",
        f"gcloud iam service-accounts delete {email('build')} --project={PROJECT} --quiet",
        f"gcloud secrets delete NOTIFY_SIGNING_SECRET --project={PROJECT} --quiet",
        f"gcloud secrets delete LINK_CODE_API_TOKEN --project={PROJECT} --quiet",
        f"gcloud secrets delete CRM_SIGNING_SECRET --project={PROJECT} --quiet",
    ):
        assert f"+ {deletion}" in result.stdout


# ----- infra/ -----
def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_index_file_is_valid_and_ttls_cover_every_expiring_collection() -> None:
    plan = _load_script("infra_plan")
    document = json.loads(INDEXES_FILE.read_text(encoding="utf-8"))

    keys = plan.declared_indexes(document)
    assert len(keys) == len(set(keys)), "an index is declared twice"
    assert set(plan.declared_ttls(document)) == {(group, "expires_at") for group in TTL_COLLECTIONS}


def test_index_plan_skips_indexes_that_exist_whatever_gcloud_appends() -> None:
    plan = _load_script("infra_plan")
    document = {
        "indexes": [
            {
                "collectionGroup": "tg_links",
                "queryScope": "COLLECTION",
                "fields": [
                    {"fieldPath": "role", "order": "ASCENDING"},
                    {"fieldPath": "linked_at", "order": "DESCENDING"},
                ],
            }
        ]
    }
    listed = [
        {
            "name": "projects/p/databases/(default)/collectionGroups/tg_links/indexes/CICAg",
            "queryScope": "COLLECTION",
            "fields": [
                {"fieldPath": "role", "order": "ASCENDING"},
                {"fieldPath": "linked_at", "order": "DESCENDING"},
                {"fieldPath": "__name__", "order": "DESCENDING"},
            ],
        }
    ]

    assert plan.declared_indexes(document)[0] in plan.existing_indexes(listed)


def test_index_plan_refuses_a_single_field_composite_index() -> None:
    plan = _load_script("infra_plan")
    document = {"indexes": [{"collectionGroup": "tg_audit", "fields": [{"fieldPath": "at", "order": "DESCENDING"}]}]}

    with pytest.raises(plan.InfraFileError, match="single-field"):
        plan.declared_indexes(document)


def test_roles_file_grants_only_known_secrets_and_datastore_access() -> None:
    roles = json.loads(ROLES_FILE.read_text(encoding="utf-8"))
    settings = {field.validation_alias for field in Settings.model_fields.values()}

    assert set(roles["functions"]) == {"webhook", "notify", "admin"}
    for function, entry in roles["functions"].items():
        assert entry["project_roles"] == ["roles/datastore.user"]
        assert set(entry["secrets"]) <= settings
        expected = SECRETS_OF[function] + (["GEMINI_API_KEY"] if function == "webhook" else [])
        assert sorted(entry["secrets"]) == sorted(expected)


def test_shellcheck_is_clean_when_installed() -> None:
    if subprocess.run(["which", "shellcheck"], capture_output=True, check=False).returncode != 0:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(["shellcheck", str(DEPLOY_SH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# ----- the deploy bundles -----
BUNDLES = [
    ("webhook", "telegram_webhook", "shared/bot/webhook.py", "POST", "/"),
    ("notify", "notify", "shared/notify/endpoint.py", "POST", "/"),
    ("admin", "admin", "shared/admin/endpoint.py", "GET", "/bot/info"),
]
DUMMY_SETTINGS = {
    "TG_BOT_TOKEN": "123:dummy",
    "TG_WEBHOOK_SECRET": "dummy-webhook-secret",
    "TELEGRAM_API_BASE": "http://127.0.0.1:9",
    "GEMINI_API_KEY": "dummy",
    "GEMINI_BASE_URL": "http://127.0.0.1:9",
    "GOOGLE_CLOUD_PROJECT": "demo-bundle",
    "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
    "NOTIFY_SIGNING_SECRET": "dummy-signing-secret",
    "ADMIN_API_TOKEN": "dummy-admin-token",
}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_bundles.py"), "--out", str(out)], check=True, capture_output=True
    )
    return out


def _files(folder: Path) -> set[str]:
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.mark.parametrize("function", ["webhook", "notify", "admin"])
def test_bundle_holds_main_shared_and_requirements(bundles: Path, function: str) -> None:
    bundle = bundles / function

    assert (bundle / "main.py").read_bytes() == (ROOT / "functions" / function / "main.py").read_bytes()
    assert (bundle / "requirements.txt").read_bytes() == (ROOT / "requirements.txt").read_bytes()
    assert _files(bundle / "shared") == _files(ROOT / "shared")
    assert not list(bundle.rglob("__pycache__"))
    assert {path.name for path in bundle.iterdir()} == {"main.py", "shared", "requirements.txt"}


def test_build_refuses_an_unknown_function(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_bundles.py"), "--out", str(tmp_path), "nope"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "unknown function nope" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bundle_env(bundle: Path) -> dict[str, str]:
    """Only the bundle on the path, dummy settings, nothing that could reach the network."""
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(bundle), "HOME": str(bundle), **DUMMY_SETTINGS}


@pytest.fixture
def serve_bundle(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def serve(bundle: Path, target: str) -> str:
        port = _free_port()
        log = (tmp_path / f"{target}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--target",
                target,
                "--source",
                "main.py",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=bundle,
            env=_bundle_env(bundle),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{bundle.name} exited:\n{(tmp_path / f'{target}.log').read_text()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}"
            time.sleep(0.2)
        pytest.fail(f"{bundle.name} did not start:\n{(tmp_path / f'{target}.log').read_text()}")

    yield serve
    for process in started:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize(("function", "target", "module", "method", "path"), BUNDLES)
def test_bundle_imports_and_serves_on_its_own(
    bundles: Path, serve_bundle: Any, function: str, target: str, module: str, method: str, path: str
) -> None:
    if not (ROOT / module).exists():
        pytest.skip(f"{module} does not exist yet")
    bundle = bundles / function
    where = subprocess.run(
        [sys.executable, "-c", "import shared, main; print(shared.__file__)"],
        cwd=bundle,
        env=_bundle_env(bundle),
        capture_output=True,
        text=True,
        check=False,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(bundle)

    url = serve_bundle(bundle, target)
    response = requests.request(method, url + path, json={}, timeout=30)

    assert response.status_code == 401
