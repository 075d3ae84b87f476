"""Settings: read once, validated, and a function refuses to start with a malformed webhook secret."""

from __future__ import annotations

import pytest

from shared.config import InvalidSettingsError, MissingSettingError, Settings, get_settings
from tests.harness import serve_function


@pytest.mark.parametrize("secret", ["has spaces", "x" * 257, "semi;colon", "ünï"])
def test_malformed_webhook_secret_is_refused(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_WEBHOOK_SECRET", secret)
    get_settings.forget()
    with pytest.raises(InvalidSettingsError, match="TG_WEBHOOK_SECRET must be 1-256 characters"):
        get_settings()
    get_settings.forget()


def test_a_function_does_not_start_with_a_malformed_secret(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TG_WEBHOOK_SECRET", "not allowed!")
    get_settings.forget()
    with pytest.raises(InvalidSettingsError):
        serve_function("webhook", "telegram_webhook")
    get_settings.forget()


def test_missing_setting_names_the_variable_and_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADMIN_API_TOKEN", raising=False)
    settings = Settings()
    with pytest.raises(MissingSettingError) as raised:
        settings.require("ADMIN_API_TOKEN")
    assert str(raised.value) == "ADMIN_API_TOKEN is not set: generate one with 'openssl rand -hex 32'"


def test_the_link_code_token_is_optional_and_empty_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINK_CODE_API_TOKEN", raising=False)
    assert Settings().link_code_api_token is None
    monkeypatch.setenv("LINK_CODE_API_TOKEN", "")
    assert Settings().link_code_api_token is None
    monkeypatch.setenv("LINK_CODE_API_TOKEN", "website-token")
    token = Settings().link_code_api_token
    assert token is not None
    assert token.get_secret_value() == "website-token"
    assert "website-token" not in repr(Settings())
    monkeypatch.delenv("LINK_CODE_API_TOKEN")
    with pytest.raises(MissingSettingError, match="LINK_CODE_API_TOKEN is not set: generate one with 'openssl rand"):
        Settings().require("LINK_CODE_API_TOKEN")


def test_empty_secrets_count_as_unset_and_urls_lose_trailing_slashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:9/")
    settings = Settings()
    assert settings.gemini_api_key is None
    assert settings.telegram_api_base == "http://127.0.0.1:9"


def test_missing_webhook_secret_is_a_503_naming_it(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TG_WEBHOOK_SECRET")
    get_settings.forget()
    server = serve_function("webhook", "telegram_webhook")
    try:
        response = server.post("/", json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": ""})
        assert response.status_code == 503
        assert "TG_WEBHOOK_SECRET is not set" in response.json()["error"]
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"CRM_BACKEND": "rest"}, "CRM_BACKEND=rest needs CRM_API_URL and CRM_SIGNING_SECRET"),
        ({"CRM_BACKEND": "rest", "CRM_API_URL": "https://crm.example.com"}, "needs CRM_SIGNING_SECRET"),
        ({"CRM_BACKEND": "rest", "CRM_SIGNING_SECRET": "s" * 32}, "needs CRM_API_URL"),
        ({"CRM_BACKEND": "rest", "CRM_API_URL": "crm.example.com", "CRM_SIGNING_SECRET": "s" * 32}, "http"),
        ({"CRM_BACKEND": "mysql"}, "firestore"),
        ({"CRM_API_TIMEOUT_SECONDS": "60"}, "30"),
    ],
)
def test_a_function_does_not_start_with_a_crm_connector_it_cannot_reach(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], refusal: str
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.forget()
    for function, target in (("webhook", "telegram_webhook"), ("notify", "notify"), ("admin", "admin")):
        with pytest.raises(InvalidSettingsError, match=refusal):
            serve_function(function, target)
    get_settings.forget()


def test_the_crm_api_url_loses_its_trailing_slash_and_an_empty_secret_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_API_URL", "https://crm.example.com/bot-api/")
    monkeypatch.setenv("CRM_SIGNING_SECRET", "")
    settings = Settings()
    assert (settings.crm_backend, settings.crm_api_url, settings.crm_signing_secret) == (
        "firestore",
        "https://crm.example.com/bot-api",
        None,
    )
