"""What the admin routes take: a pydantic model for each body and each query string, and reading a request's into
one, so that bad input is a 400 naming the field at fault."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError
from werkzeug.datastructures import MultiDict

from shared import clock
from shared.auth.login import normalise_email
from shared.roles import Role
from shared.store.history import USAGE_DAYS_KEPT

MAX_LIMIT = 500

Model = TypeVar("Model", bound=BaseModel)


class BadRequest(Exception):
    """400 with a message naming the field."""


def parse_body(raw: bytes, model: type[Model], *, required: bool = True) -> Model:
    """The body as `model`, read as JSON whatever its Content-Type (curl and some clients send none, or another).
    An empty body is `model`'s defaults where the body is optional."""
    if not required and not raw.strip():
        return model()
    return _validated(model, _json_object(raw), whole="body")


def parse_query(arguments: MultiDict[str, str], model: type[Model]) -> Model:
    """The query string as `model`; of a name given twice, the first value counts."""
    return _validated(model, arguments.to_dict(), whole="query")


def _validated(model: type[Model], payload: dict[str, Any], whole: str) -> Model:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or whole
        raise BadRequest(f"{field}: {first['msg']}") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise BadRequest("body is empty: send a JSON object")
    try:
        payload = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BadRequest("body is not JSON: it is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise BadRequest(f"body is not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except (ValueError, RecursionError):  # an integer of 4300+ digits, absurd nesting
        raise BadRequest("body is not JSON that can be read: a number too long or nesting too deep") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"body must be a JSON object, not {_json_kind(payload)}")
    return payload


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"


def _invalid(message: str) -> PydanticCustomError:
    """A validation error whose message is `message` alone (a ValueError's would start with "Value error, ")."""
    return PydanticCustomError("invalid", message)


Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]


def _utc_time(value: Any) -> Any:
    """An ISO 8601 date-time as an aware UTC datetime; one without a zone is taken as UTC."""
    if not isinstance(value, str):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: a zone that moves it past year 1 or 9999
        raise _invalid("must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from None


UtcTime = Annotated[dt.datetime, BeforeValidator(_utc_time)]


# ----- bodies -----
class Body(BaseModel):
    """A request body: a field the route does not take is refused, so a misspelt one is never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class WebhookSet(Body):
    """POST /webhook/set."""

    webhook_url: str
    drop_pending_updates: bool = False

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.netloc:
            raise _invalid("must be an https:// URL (Telegram only calls HTTPS webhooks)")
        return url


class LinkCodeRequest(Body):
    """POST /link-codes: the CRM user, by id or by email."""

    user_id: str | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> LinkCodeRequest:
        if bool(self.user_id) == bool(self.email):
            raise _invalid("give exactly one of user_id or email")
        return self


class RedriveRequest(Body):
    """POST /notifications/redrive; the body is optional."""

    statuses: Annotated[list[Literal["pending", "failed"]], Field(min_length=1)] = ["pending", "failed"]
    limit: Limit = 100


# ----- query strings: names a route does not take are ignored (pydantic's default), as they always were -----
class UsersQuery(BaseModel):
    """GET /users."""

    linked: Literal["true", "1"] = "true"
    role: Role | None = None
    limit: Limit = 100

    @field_validator("linked", mode="before")
    @classmethod
    def _linked_only(cls, value: Any) -> Any:
        linked = str(value).lower()
        if linked not in ("true", "1"):
            raise _invalid("only linked=true is supported (the CRM lists its own users)")
        return linked


class StatsQuery(BaseModel):
    """GET /stats: the period, in days back from now (the daily counters keep USAGE_DAYS_KEPT)."""

    days: Annotated[int, Field(ge=1, le=USAGE_DAYS_KEPT)] = 7


class AuditQuery(BaseModel):
    """GET /audit."""

    since: UtcTime = Field(default_factory=lambda: clock.now() - dt.timedelta(days=7))
    limit: Limit = 100


class NotificationsQuery(BaseModel):
    """GET /notifications."""

    status: Literal["failed", "pending"] = "failed"
    limit: Limit = 100


class EmailLockoutQuery(BaseModel):
    """DELETE /lockouts?email=...: the email as the bot counts its failures (lower case)."""

    email: str

    @field_validator("email")
    @classmethod
    def _normalised(cls, value: str) -> str:
        email = normalise_email(value)
        if email is None:
            raise _invalid("must be an email address (or give a Telegram user id: DELETE /lockouts/<id>)")
        return email


class TelegramUserLockoutQuery(BaseModel):
    """DELETE /lockouts/<id> takes no email: an email's lockout is its own route, so no call lifts both by mistake."""

    email: SkipJsonSchema[str | None] = None

    @field_validator("email")
    @classmethod
    def _not_here(cls, value: str | None) -> None:
        raise _invalid("lift an email's lockout with DELETE /lockouts?email=..., without a user id")
