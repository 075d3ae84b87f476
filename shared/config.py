"""Settings: the one place the environment is read."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.instance import per_instance

WEBHOOK_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

HOW_TO_SET = {
    "TG_BOT_TOKEN": "create a bot with @BotFather and set the token it gives you",
    "TG_WEBHOOK_SECRET": "generate one with 'openssl rand -hex 32'",
    "GEMINI_API_KEY": "create a key in Google AI Studio",
    "NOTIFY_SIGNING_SECRET": "generate one with 'openssl rand -hex 32' and share it with the CRM",
    "ADMIN_API_TOKEN": "generate one with 'openssl rand -hex 32'",
    "LINK_CODE_API_TOKEN": "generate one with 'openssl rand -hex 32' and give it to the CRM website",
    "GOOGLE_CLOUD_PROJECT": "set it to the Google Cloud project id",
    "CRM_API_URL": "set it to the base URL of the CRM's connector API (docs/crm-connector.md)",
    "CRM_SIGNING_SECRET": "generate one with 'openssl rand -hex 32' and give it to the CRM",
}


class MissingSettingError(RuntimeError):
    """A request needs a setting that is not configured."""

    def __init__(self, name: str) -> None:
        self.name = name
        hint = HOW_TO_SET.get(name, "set it in the environment")
        super().__init__(f"{name} is not set: {hint}")


class InvalidSettingsError(RuntimeError):
    """The environment holds a setting we refuse to start with."""


class Settings(BaseSettings):
    """Configuration of all three functions, read from the environment once per instance."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    tg_bot_token: SecretStr | None = Field(default=None, validation_alias="TG_BOT_TOKEN")
    tg_webhook_secret: SecretStr | None = Field(default=None, validation_alias="TG_WEBHOOK_SECRET")
    telegram_api_base: str = Field(default="https://api.telegram.org", validation_alias="TELEGRAM_API_BASE")

    gemini_api_key: SecretStr | None = Field(default=None, validation_alias="GEMINI_API_KEY")
    gemini_model: str = Field(default="gemini-2.5-flash", validation_alias="GEMINI_MODEL")
    gemini_base_url: str | None = Field(default=None, validation_alias="GEMINI_BASE_URL")

    google_cloud_project: str | None = Field(default=None, validation_alias="GOOGLE_CLOUD_PROJECT")
    firestore_emulator_host: str | None = Field(default=None, validation_alias="FIRESTORE_EMULATOR_HOST")

    notify_signing_secret: SecretStr | None = Field(default=None, validation_alias="NOTIFY_SIGNING_SECRET")
    admin_api_token: SecretStr | None = Field(default=None, validation_alias="ADMIN_API_TOKEN")
    # Optional: the CRM website's bearer token, which may only create link codes.
    link_code_api_token: SecretStr | None = Field(default=None, validation_alias="LINK_CODE_API_TOKEN")
    website_url: str = Field(default="https://example.com", validation_alias="WEBSITE_URL")

    # Where the CRM's data lives: our Firestore (docs/crm-schema.md) or the CRM's own API (docs/crm-connector.md).
    crm_backend: Literal["firestore", "rest"] = Field(default="firestore", validation_alias="CRM_BACKEND")
    crm_api_url: str | None = Field(default=None, validation_alias="CRM_API_URL")
    crm_signing_secret: SecretStr | None = Field(default=None, validation_alias="CRM_SIGNING_SECRET")
    crm_api_timeout_seconds: float = Field(default=8.0, gt=0, le=30, validation_alias="CRM_API_TIMEOUT_SECONDS")

    bot_time_zone: str = Field(default="UTC", validation_alias="BOT_TIME_ZONE")
    assistant_messages_per_minute: int = Field(default=20, ge=1, validation_alias="ASSISTANT_MESSAGES_PER_MINUTE")
    assistant_turn_seconds: float = Field(default=40.0, gt=0, le=50, validation_alias="ASSISTANT_TURN_SECONDS")
    assistant_daily_token_budget: int = Field(default=200_000, ge=1, validation_alias="ASSISTANT_DAILY_TOKEN_BUDGET")
    # How long every password step takes: above the CRM's slowest hash check on this instance (docs/crm-contract.md).
    password_check_seconds: float = Field(default=1.5, gt=0, le=10, validation_alias="PASSWORD_CHECK_SECONDS")

    @field_validator("tg_webhook_secret")
    @classmethod
    def _webhook_secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET_PATTERN.match(value.get_secret_value()):
            raise ValueError(
                "TG_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                "(Telegram's rule): generate one with 'openssl rand -hex 32'"
            )
        return value

    @field_validator("telegram_api_base", "website_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("crm_api_url")
    @classmethod
    def _crm_api_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"CRM_API_URL must be an http(s) URL, not {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _rest_needs_the_crm(self) -> Self:
        if self.crm_backend == "rest":
            missing = [name for name in ("CRM_API_URL", "CRM_SIGNING_SECRET") if not getattr(self, name.lower())]
            if missing:
                raise ValueError(
                    f"CRM_BACKEND=rest needs {' and '.join(missing)}: "
                    + "; ".join(f"{name}: {HOW_TO_SET[name]}" for name in missing)
                )
        return self

    @field_validator(
        "tg_bot_token",
        "gemini_api_key",
        "notify_signing_secret",
        "admin_api_token",
        "link_code_api_token",
        "crm_signing_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def assistant_configured(self) -> bool:
        """Whether free text goes to the assistant (a Gemini key is set); every change has a command either way."""
        return self.gemini_api_key is not None

    def require(self, name: str) -> str:
        """The value of a secret or optional setting by its environment name, or MissingSettingError."""
        field_name = name.lower()
        value = getattr(self, field_name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not value:
            raise MissingSettingError(name)
        return str(value)


@per_instance
def get_settings() -> Settings:
    """The settings of this instance, read from the environment on first use."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        raise InvalidSettingsError(problems) from None
