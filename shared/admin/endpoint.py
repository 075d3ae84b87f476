"""The admin function's routes, declared once in ROUTES. Every route needs `Authorization: Bearer <ADMIN_API_TOKEN>`;
POST /link-codes also takes the website's narrower LINK_CODE_API_TOKEN."""

from __future__ import annotations

import hmac
import logging

import flask
from werkzeug.exceptions import MethodNotAllowed, NotFound

from shared.admin.inputs import (
    AuditQuery,
    BadRequest,
    EmailLockoutQuery,
    LinkCodeRequest,
    NotificationsQuery,
    RedriveRequest,
    StatsQuery,
    TelegramUserLockoutQuery,
    UsersQuery,
    WebhookSet,
)
from shared.admin.routing import Caller, Route, RouteTable
from shared.admin.stats import collect_stats
from shared.auth import lockouts
from shared.auth.link_codes import LinkCodeError, issue_link_code
from shared.bot import menus
from shared.bot.commands import GUEST
from shared.config import InvalidSettingsError, MissingSettingError, Settings, get_settings
from shared.crm.backend import get_crm
from shared.crm.port import CrmUnreachable
from shared.http import error_response, json_response
from shared.instance import per_instance
from shared.notify import ledger
from shared.notify.delivery import redrive
from shared.store import links, listings
from shared.store.errors import StoreError
from shared.telegram.client import TelegramClient, get_telegram_client
from shared.telegram.errors import TelegramError

log = logging.getLogger(__name__)


def handle_admin_request(request: flask.Request) -> flask.Response:
    """Authenticate, route, parse the input with the route's models, and answer; a failure becomes its status."""
    try:
        caller = _caller(request, get_settings())
    except (MissingSettingError, InvalidSettingsError) as error:
        log.error("admin misconfigured: %s", error)
        return error_response(503, str(error))
    if caller is None:
        return error_response(401, "missing or wrong bearer token")
    try:
        route, arguments = ROUTES.match(request)
    except (NotFound, MethodNotAllowed) as error:
        return _forbidden() if caller is not Caller.OPERATOR else _no_such_route(request, error)
    if caller not in route.callers:
        return _forbidden()
    try:
        return route.answer(request, arguments)
    except BadRequest as error:
        return error_response(400, str(error))
    except MissingSettingError as error:
        return error_response(503, str(error))
    except TelegramError as error:
        return error_response(502, f"Telegram answered {error.error_code}: {error.description}")
    except StoreError as error:
        log.error("admin %s %s: Firestore failed: %s", route.method, route.path, error)
        return error_response(503, "storage unavailable, retry later")
    except CrmUnreachable as error:
        log.error("admin %s %s: the CRM could not answer: %s", route.method, route.path, error)
        return error_response(503, "the CRM could not answer, retry later")


def _caller(request: flask.Request, settings: Settings) -> Caller | None:
    """Whose bearer token the request carries, if any; each token is compared in constant time."""
    admin_token = settings.require("ADMIN_API_TOKEN").encode()
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    presented = given.strip().encode()
    if hmac.compare_digest(presented, admin_token):
        return Caller.OPERATOR
    website_token = settings.link_code_api_token
    if website_token is not None and hmac.compare_digest(presented, website_token.get_secret_value().encode()):
        return Caller.WEBSITE
    return None


def _forbidden() -> flask.Response:
    """The website's token on any route but its own, whether the route exists or not."""
    allowed = ", ".join(route.label for route in ROUTES.open_to(Caller.WEBSITE))
    return error_response(403, f"this token only creates link codes ({allowed})")


def _no_such_route(request: flask.Request, error: NotFound | MethodNotAllowed) -> flask.Response:
    if isinstance(error, NotFound):
        return error_response(404, f"no route {request.path}")
    response = error_response(405, f"{request.method} is not allowed on {request.path}")
    response.headers["Allow"] = ", ".join(sorted(error.valid_methods or []))
    return response


def _telegram() -> TelegramClient:
    return get_telegram_client()


# ----- the routes' handlers -----
def bot_info() -> flask.Response:
    return json_response({"ok": True, "bot": _telegram().get_me().model_dump(exclude_none=True)})


def webhook_info() -> flask.Response:
    return json_response({"ok": True, "webhook_info": _telegram().get_webhook_info().model_dump(exclude_none=True)})


def webhook_set(body: WebhookSet) -> flask.Response:
    secret = get_settings().require("TG_WEBHOOK_SECRET")
    from shared.bot.router import UPDATE_KINDS  # the chat layer is loaded for this route only

    _telegram().set_webhook(body.webhook_url, secret, UPDATE_KINDS, drop_pending_updates=body.drop_pending_updates)
    return json_response({"ok": True, "webhook_url": body.webhook_url, "allowed_updates": list(UPDATE_KINDS)})


def webhook_delete() -> flask.Response:
    _telegram().delete_webhook()
    return json_response({"ok": True})


def commands_sync() -> flask.Response:
    from shared.bot.router import COMMANDS  # the chat layer is loaded for this route only

    menu = COMMANDS.menu(GUEST)
    _telegram().set_my_commands(menu)
    return json_response({"ok": True, "commands": [command.model_dump() for command in menu]})


def create_link_code(body: LinkCodeRequest) -> flask.Response:
    crm = get_crm()
    user = crm.get_user(body.user_id) if body.user_id else crm.find_user_by_email(body.email or "")
    if user is None:
        return error_response(404, "no such CRM user")
    try:
        issued = issue_link_code(user, _bot_username())
    except LinkCodeError as error:
        return error_response(409, str(error))
    return json_response(
        {"code": issued.code, "deep_link": issued.deep_link, "expires_at": issued.expires_at.isoformat()}, 201
    )


def linked_users(query: UsersQuery) -> flask.Response:
    found = listings.linked_users(query.role, query.limit)
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


def unlink(telegram_user_id: int) -> flask.Response:
    link = links.get_link(telegram_user_id)
    if link is None:
        return error_response(404, f"Telegram user {telegram_user_id} is not linked")
    menus.end_session(_telegram(), link, reason="admin_unlink")
    return json_response({"ok": True, "unlinked": telegram_user_id})


def stats(query: StatsQuery) -> flask.Response:
    return json_response(collect_stats(query.days))


def audit(query: AuditQuery) -> flask.Response:
    entries = listings.audit_entries(query.since, query.limit)
    for entry in entries:
        entry["at"] = entry["at"].isoformat() if entry.get("at") else None
    return json_response({"entries": entries, "since": query.since.isoformat()})


def notifications(query: NotificationsQuery) -> flask.Response:
    entries = ledger.entries_with_status([query.status], limit=query.limit)
    return json_response({"notifications": [entry.model_dump(mode="json", exclude={"history"}) for entry in entries]})


def redrive_notifications(body: RedriveRequest) -> flask.Response:
    return json_response(redrive(statuses=body.statuses, limit=body.limit).as_json())


def lift_telegram_user_lockout(telegram_user_id: int, query: TelegramUserLockoutQuery) -> flask.Response:
    """`query` has nothing to use: parsing it refuses an email given here too (a 400 naming it)."""
    lifted = lockouts.lift_telegram_user_lockout(telegram_user_id)
    return json_response({"ok": True, "telegram_user_id": telegram_user_id, "lifted": lifted})


def lift_email_lockout(query: EmailLockoutQuery) -> flask.Response:
    """The answer is alike for registered and unknown emails, whose failures are counted alike."""
    return json_response({"ok": True, "email": query.email, "lifted": lockouts.lift_email_lockout(query.email)})


@per_instance
def _bot_username() -> str:
    """The bot's @username (for t.me links), asked of Telegram once per instance."""
    username = _telegram().get_me().username
    if not username:
        raise MissingSettingError("TG_BOT_TOKEN")
    return username


WEBSITE_AND_OPERATOR = frozenset({Caller.OPERATOR, Caller.WEBSITE})

ROUTES = RouteTable(
    [
        Route("GET", "/bot/info", bot_info),
        Route("GET", "/webhook/info", webhook_info),
        Route("POST", "/webhook/set", webhook_set, body=WebhookSet),
        Route("DELETE", "/webhook", webhook_delete),
        Route("POST", "/commands/sync", commands_sync),
        Route("POST", "/link-codes", create_link_code, body=LinkCodeRequest, callers=WEBSITE_AND_OPERATOR),
        Route("GET", "/users", linked_users, query=UsersQuery),
        Route("POST", "/users/<int(signed=True):telegram_user_id>/unlink", unlink),
        Route("GET", "/stats", stats, query=StatsQuery),
        Route("GET", "/audit", audit, query=AuditQuery),
        Route("GET", "/notifications", notifications, query=NotificationsQuery),
        Route("POST", "/notifications/redrive", redrive_notifications, body=RedriveRequest, body_required=False),
        Route("DELETE", "/lockouts/<int:telegram_user_id>", lift_telegram_user_lockout, query=TelegramUserLockoutQuery),
        Route("DELETE", "/lockouts", lift_email_lockout, query=EmailLockoutQuery),
    ]
)
"""Every admin route, the one place each is declared: dispatch, the 403s, 404s and 405s, and the tests that hold
docs/openapi.yaml and the README to it all read this table."""
