"""The admin function's routes. Every route needs `Authorization: Bearer <ADMIN_API_TOKEN>`; POST /link-codes also
takes the website's narrower LINK_CODE_API_TOKEN."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from collections.abc import Callable
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import flask
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from shared import clock
from shared.admin.stats import collect_stats
from shared.auth import menus
from shared.auth.link_codes import LinkCodeError, issue_link_code
from shared.auth.lockouts import lift_email_lockout, lift_telegram_user_lockout
from shared.auth.login import normalise_email
from shared.bot.commands import GUEST, registry
from shared.config import InvalidSettingsError, MissingSettingError, get_settings
from shared.crm.users import find_crm_user_by_email, get_crm_user
from shared.http import error_response, json_response
from shared.notify import ledger
from shared.notify.delivery import redrive
from shared.roles import Role
from shared.store import history, links, listings
from shared.store.documents import store_errors
from shared.store.errors import StoreError
from shared.telegram.client import TelegramClient, get_telegram_client
from shared.telegram.errors import TelegramError

log = logging.getLogger(__name__)

MAX_LIMIT = 500


class BadRequest(Exception):
    """400 with a message naming the field."""


Handler = Callable[..., flask.Response]

ROUTES = Map(
    [
        Rule("/bot/info", methods=["GET"], endpoint="bot_info"),
        Rule("/webhook/info", methods=["GET"], endpoint="webhook_info"),
        Rule("/webhook/set", methods=["POST"], endpoint="webhook_set"),
        Rule("/webhook", methods=["DELETE"], endpoint="webhook_delete"),
        Rule("/commands/sync", methods=["POST"], endpoint="commands_sync"),
        Rule("/link-codes", methods=["POST"], endpoint="link_codes"),
        Rule("/users", methods=["GET"], endpoint="users"),
        Rule("/users/<int(signed=True):telegram_user_id>/unlink", methods=["POST"], endpoint="unlink"),
        Rule("/stats", methods=["GET"], endpoint="stats"),
        Rule("/audit", methods=["GET"], endpoint="audit"),
        Rule("/notifications", methods=["GET"], endpoint="notifications"),
        Rule("/notifications/redrive", methods=["POST"], endpoint="redrive"),
        Rule("/lockouts", methods=["DELETE"], endpoint="lockouts"),
        Rule("/lockouts/<int:telegram_user_id>", methods=["DELETE"], endpoint="lockouts"),
    ],
    strict_slashes=False,
)


class Caller(Enum):
    """Who a bearer token says the caller is."""

    OPERATOR = "ADMIN_API_TOKEN"
    WEBSITE = "LINK_CODE_API_TOKEN"


WEBSITE_ENDPOINTS = frozenset({"link_codes"})
"""The routes LINK_CODE_API_TOKEN may call: the CRM website creates link codes, and nothing else."""


def handle_admin_request(request: flask.Request) -> flask.Response:
    """Authenticate, route, and turn bad input into 400s naming the field."""
    try:
        settings = get_settings()
        admin_token = settings.require("ADMIN_API_TOKEN")
    except (MissingSettingError, InvalidSettingsError) as error:
        log.error("admin misconfigured: %s", error)
        return error_response(503, str(error))
    caller = _caller(request, admin_token, settings.link_code_api_token)
    if caller is None:
        return error_response(401, "missing or wrong bearer token")
    if caller is Caller.WEBSITE and _endpoint(request) not in WEBSITE_ENDPOINTS:
        return error_response(403, "this token only creates link codes (POST /link-codes)")
    adapter = ROUTES.bind("admin", path_info=request.path)
    try:
        endpoint, arguments = adapter.match(request.path, method=request.method)
    except NotFound:
        return error_response(404, f"no route {request.path}")
    except MethodNotAllowed as error:
        response = error_response(405, f"{request.method} is not allowed on {request.path}")
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods or []))
        return response
    try:
        # store_errors: domain code that still calls the database library directly raises its exceptions, which
        # this turns into the store's own (a no-op for code that reads through shared.store.documents).
        with store_errors():
            return HANDLERS[str(endpoint)](request, **arguments)
    except BadRequest as error:
        return error_response(400, str(error))
    except MissingSettingError as error:
        return error_response(503, str(error))
    except TelegramError as error:
        return error_response(502, f"Telegram answered {error.error_code}: {error.description}")
    except StoreError as error:
        log.error("admin %s: Firestore failed: %s", endpoint, error)
        return error_response(503, "storage unavailable, retry later")


def _caller(request: flask.Request, admin_token: str, link_code_token: SecretStr | None) -> Caller | None:
    """Whose bearer token the request carries, if any; each token is compared in constant time."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    presented = given.strip().encode()
    if hmac.compare_digest(presented, admin_token.encode()):
        return Caller.OPERATOR
    if link_code_token is not None and hmac.compare_digest(presented, link_code_token.get_secret_value().encode()):
        return Caller.WEBSITE
    return None


def _endpoint(request: flask.Request) -> str | None:
    """The endpoint the request's path and method route to, or None (no such route, or the wrong method)."""
    try:
        endpoint, _ = ROUTES.bind("admin", path_info=request.path).match(request.path, method=request.method)
    except HTTPException:
        return None
    return str(endpoint)


# ----- request parsing -----
def _body(request: flask.Request, model: type[BaseModel]) -> Any:
    """The body as `model`, read as JSON whatever its Content-Type (curl and some clients send none, or another)."""
    payload = _json_object(request.get_data())
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
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


def _int_arg(request: flask.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _time_arg(request: flask.Request, name: str) -> dt.datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        raise BadRequest(f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from None


def _telegram() -> TelegramClient:
    return get_telegram_client()


# ----- routes -----
class WebhookSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: str
    drop_pending_updates: bool = False

    @model_validator(mode="after")
    def _https(self) -> WebhookSet:
        parts = urlsplit(self.webhook_url)
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError("webhook_url must be an https:// URL (Telegram only calls HTTPS webhooks)")
        return self


class LinkCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = None
    email: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> LinkCodeRequest:
        if bool(self.user_id) == bool(self.email):
            raise ValueError("give exactly one of user_id or email")
        return self


class Redrive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statuses: list[str] = ["pending", "failed"]
    limit: int = 100


def bot_info(request: flask.Request) -> flask.Response:
    return json_response({"ok": True, "bot": _telegram().get_me().model_dump(exclude_none=True)})


def webhook_info(request: flask.Request) -> flask.Response:
    return json_response({"ok": True, "webhook_info": _telegram().get_webhook_info().model_dump(exclude_none=True)})


def webhook_set(request: flask.Request) -> flask.Response:
    body: WebhookSet = _body(request, WebhookSet)
    secret = get_settings().require("TG_WEBHOOK_SECRET")
    from shared.bot.router import UPDATE_KINDS  # the chat layer is loaded for this route only

    _telegram().set_webhook(body.webhook_url, secret, UPDATE_KINDS, drop_pending_updates=body.drop_pending_updates)
    return json_response({"ok": True, "webhook_url": body.webhook_url, "allowed_updates": list(UPDATE_KINDS)})


def webhook_delete(request: flask.Request) -> flask.Response:
    _telegram().delete_webhook()
    return json_response({"ok": True})


def commands_sync(request: flask.Request) -> flask.Response:
    import shared.bot.router  # noqa: F401  (registers every command)

    menu = registry.menu(GUEST)
    _telegram().set_my_commands(menu)
    return json_response({"ok": True, "commands": [command.model_dump() for command in menu]})


def link_codes(request: flask.Request) -> flask.Response:
    body: LinkCodeRequest = _body(request, LinkCodeRequest)
    user = get_crm_user(body.user_id) if body.user_id else find_crm_user_by_email(body.email or "")
    if user is None:
        return error_response(404, "no such CRM user")
    try:
        issued = issue_link_code(user, _bot_username())
    except LinkCodeError as error:
        return error_response(409, str(error))
    return json_response(
        {"code": issued.code, "deep_link": issued.deep_link, "expires_at": issued.expires_at.isoformat()}, 201
    )


def users(request: flask.Request) -> flask.Response:
    if request.args.get("linked", "true").lower() not in ("true", "1"):
        raise BadRequest("linked: only linked=true is supported (the CRM lists its own users)")
    role = request.args.get("role")
    if role is not None and role not in {r.value for r in Role}:
        raise BadRequest("role must be one of vendor, employee, customer")
    limit = _int_arg(request, "limit", 100, 1, MAX_LIMIT)
    found = listings.linked_users(Role(role) if role is not None else None, limit)
    return json_response(
        {
            "users": [
                {
                    "telegram_user_id": link.telegram_user_id,
                    "crm_user_id": link.crm_user_id,
                    "name": link.name,
                    "role": link.role.value,
                    "telegram_username": link.telegram_username,
                    "linked_at": link.linked_at.isoformat(),
                    "blocked": link.blocked,
                }
                for link in found
            ]
        }
    )


def unlink(request: flask.Request, telegram_user_id: int) -> flask.Response:
    link = links.get_link(telegram_user_id)
    if link is None:
        return error_response(404, f"Telegram user {telegram_user_id} is not linked")
    menus.end_session(_telegram(), link, reason="admin_unlink")
    return json_response({"ok": True, "unlinked": telegram_user_id})


def stats(request: flask.Request) -> flask.Response:
    return json_response(collect_stats(_int_arg(request, "days", 7, 1, history.USAGE_DAYS_KEPT)))


def audit(request: flask.Request) -> flask.Response:
    since = _time_arg(request, "since") or clock.now() - dt.timedelta(days=7)
    limit = _int_arg(request, "limit", 100, 1, MAX_LIMIT)
    entries = listings.audit_entries(since, limit)
    for entry in entries:
        entry["at"] = entry["at"].isoformat() if entry.get("at") else None
    return json_response({"entries": entries, "since": since.isoformat()})


def notifications(request: flask.Request) -> flask.Response:
    status = request.args.get("status", "failed")
    if status not in ("failed", "pending"):
        raise BadRequest("status must be failed or pending")
    limit = _int_arg(request, "limit", 100, 1, MAX_LIMIT)
    entries = ledger.entries_with_status([status], limit=limit)
    return json_response({"notifications": [entry.model_dump(mode="json", exclude={"history"}) for entry in entries]})


def redrive_route(request: flask.Request) -> flask.Response:
    body: Redrive = _body(request, Redrive) if request.get_data().strip() else Redrive()
    if not body.statuses or not set(body.statuses) <= {"pending", "failed"}:
        raise BadRequest("statuses must be a non-empty list of pending and failed")
    if not 1 <= body.limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return json_response(redrive(statuses=tuple(body.statuses), limit=body.limit).as_json())


def lockouts(request: flask.Request, telegram_user_id: int | None = None) -> flask.Response:
    """Lift the login lockout of a Telegram user (in the path) or of an email (?email=); the answer is alike for
    registered and unknown emails, whose failures are counted alike."""
    email_argument = request.args.get("email")
    if telegram_user_id is not None:
        if email_argument is not None:
            raise BadRequest("email: lift an email's lockout with DELETE /lockouts?email=..., without a user id")
        lifted = lift_telegram_user_lockout(telegram_user_id)
        return json_response({"ok": True, "telegram_user_id": telegram_user_id, "lifted": lifted})
    email = normalise_email(email_argument or "")
    if email is None:
        raise BadRequest("email must be an email address (or give a Telegram user id: DELETE /lockouts/<id>)")
    return json_response({"ok": True, "email": email, "lifted": lift_email_lockout(email)})


_bot_username_cache: list[str] = []


def _bot_username() -> str:
    if not _bot_username_cache:
        username = _telegram().get_me().username
        if not username:
            raise MissingSettingError("TG_BOT_TOKEN")
        _bot_username_cache.append(username)
    return _bot_username_cache[0]


HANDLERS: dict[str, Handler] = {
    "bot_info": bot_info,
    "webhook_info": webhook_info,
    "webhook_set": webhook_set,
    "webhook_delete": webhook_delete,
    "commands_sync": commands_sync,
    "link_codes": link_codes,
    "users": users,
    "unlink": unlink,
    "stats": stats,
    "audit": audit,
    "notifications": notifications,
    "redrive": redrive_route,
    "lockouts": lockouts,
}
