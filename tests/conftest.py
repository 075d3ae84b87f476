"""Fixtures: the Firestore emulator, fake Telegram and Gemini servers, and the functions over HTTP."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from devstack.emulator import Emulator, existing_or_new_emulator
from tests.crm_world import (
    BACKENDS,
    REFERENCE_SECRET,
    TRUSTING_REST,
    CrmWorld,
    FirestoreWorld,
    ReferenceServer,
    RestWorld,
)
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import (
    ADMIN_TOKEN,
    LINK_CODE_TOKEN,
    NOTIFY_SECRET,
    WEBHOOK_SECRET,
    FunctionServer,
    forbid_network,
    serve_function,
)

forbid_network()


# ----- servers -----
@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    running = existing_or_new_emulator(tmp_path_factory.mktemp("emulator") / "emulator.log")
    os.environ["FIRESTORE_EMULATOR_HOST"] = running.host
    yield running
    running.stop()


@pytest.fixture(scope="session")
def project_id(worker_id: str) -> str:
    """A Firestore project per xdist worker, so parallel workers never reset each other's data."""
    return f"demo-test-{worker_id}"


@pytest.fixture(scope="session")
def telegram_server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def telegram(telegram_server: FakeTelegram) -> FakeTelegram:
    telegram_server.reset()
    return telegram_server


@pytest.fixture
def gemini(gemini_server: FakeGemini) -> FakeGemini:
    gemini_server.reset()
    return gemini_server


def _clear_instance_caches() -> None:
    from shared import instance

    instance.reset()


@pytest.fixture
def env(
    emulator: Emulator,
    project_id: str,
    telegram_server: FakeTelegram,
    gemini_server: FakeGemini,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """The environment of a deployed instance, pointed at the emulator and the fakes; data wiped first."""
    from shared import clock

    values = {
        "TG_BOT_TOKEN": telegram_server.token,
        "TG_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_API_BASE": telegram_server.base_url,
        "GEMINI_API_KEY": "test-gemini-key",
        "GEMINI_BASE_URL": gemini_server.base_url,
        "GEMINI_MODEL": "gemini-test",
        "GOOGLE_CLOUD_PROJECT": project_id,
        "FIRESTORE_EMULATOR_HOST": emulator.host,
        "NOTIFY_SIGNING_SECRET": NOTIFY_SECRET,
        "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "LINK_CODE_API_TOKEN": LINK_CODE_TOKEN,
        "WEBSITE_URL": "https://crm.example.com",
        # Test accounts hash with 1,000 rounds; tests/test_login_timing.py sets a realistic floor of its own.
        "PASSWORD_CHECK_SECONDS": "0.01",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    emulator.reset(project_id)
    _clear_instance_caches()
    clock.reset()
    yield values
    clock.reset()
    _clear_instance_caches()


@pytest.fixture(params=BACKENDS)
def crm_world(
    request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CrmWorld]:
    """The CRM, over each adapter of the port in turn (tests/crm_world.py). Ask for it before `webhook` and the
    other function servers, so they start with its settings. Parametrised indirectly with TRUSTING_REST, it is
    the reference CRM checking nothing on reads (every permission is then the bot's own)."""
    if request.param == "firestore":
        yield FirestoreWorld()
        return
    server = ReferenceServer()
    server.crm.trusting = request.param == TRUSTING_REST
    for name, value in {
        "CRM_BACKEND": "rest",
        "CRM_API_URL": server.url,
        "CRM_SIGNING_SECRET": REFERENCE_SECRET,
    }.items():
        monkeypatch.setenv(name, value)
        env[name] = value
    _clear_instance_caches()
    yield RestWorld(server)
    server.stop()


@pytest.fixture
def function_server(env: dict[str, str]) -> Iterator[Callable[[str, str], FunctionServer]]:
    started: list[FunctionServer] = []

    def start(name: str, target: str) -> FunctionServer:
        served = serve_function(name, target)
        started.append(served)
        return served

    yield start
    for served in started:
        served.server.shutdown()
        served.server.server_close()


@pytest.fixture
def webhook(function_server: Callable[[str, str], FunctionServer], telegram_server: FakeTelegram) -> FunctionServer:
    served = function_server("webhook", "telegram_webhook")
    served.bot_api = f"{telegram_server.base_url}/bot{telegram_server.token}/"
    return served


@pytest.fixture
def notify_fn(function_server: Callable[[str, str], FunctionServer]) -> FunctionServer:
    return function_server("notify", "notify")


@pytest.fixture
def admin_fn(function_server: Callable[[str, str], FunctionServer]) -> FunctionServer:
    return function_server("admin", "admin")
