"""The admin function over HTTP: authentication, routing, and each route against the fakes."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from shared import clock
from shared.admin.endpoint import ROUTES
from shared.admin.routing import Caller
from shared.config import get_settings
from shared.roles import Role
from shared.store import links
from shared.store.db import get_db
from tests.chat import ChatUser
from tests.crm_data import add_crm_user
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import ADMIN_TOKEN, LINK_CODE_TOKEN, ROOT, WEBHOOK_SECRET, FunctionServer
from tests.test_notify import event, ledger_doc, link_user, signed_post

pytestmark = pytest.mark.emulator

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WEBSITE_AUTH = {"Authorization": f"Bearer {LINK_CODE_TOKEN}"}


def link(telegram_user_id: int, crm_user_id: str, role: Role = Role.CUSTOMER, name: str = "Cat") -> links.Link:
    made = links.Link(
        telegram_user_id=telegram_user_id,
        chat_id=telegram_user_id,
        crm_user_id=crm_user_id,
        role=role,
        org_id="org-1",
        name=name,
        email=f"{crm_user_id}@example.com",
        telegram_username=f"tg{telegram_user_id}",
        linked_at=clock.now(),
    )
    links.save_link(made)
    return made


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic " + ADMIN_TOKEN, ADMIN_TOKEN, "Bearer "])
def test_every_route_needs_the_bearer_token(
    admin_fn: FunctionServer, telegram: FakeTelegram, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    for method, path in (("GET", "/bot/info"), ("POST", "/webhook/set"), ("GET", "/nope")):
        assert admin_fn.request(method, path, headers=headers).status_code == 401
    assert telegram.calls == []


def test_unknown_route_is_404_and_wrong_method_is_405(admin_fn: FunctionServer) -> None:
    assert admin_fn.get("/nope", headers=AUTH).status_code == 404
    response = admin_fn.request("DELETE", "/stats", headers=AUTH)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_bot_and_webhook_info(admin_fn: FunctionServer, telegram: FakeTelegram) -> None:
    assert admin_fn.get("/bot/info", headers=AUTH).json()["bot"]["username"] == "crm_test_bot"
    info = admin_fn.get("/webhook/info", headers=AUTH).json()
    assert info["ok"] is True
    assert info["webhook_info"]["pending_update_count"] == 0


def test_webhook_set_uses_the_secret_and_allowed_updates(admin_fn: FunctionServer, telegram: FakeTelegram) -> None:
    response = admin_fn.post("/webhook/set", json={"webhook_url": "https://bot.example.com/hook"}, headers=AUTH)
    assert response.status_code == 200
    params = telegram.calls_to("setWebhook")[0].params
    assert params["url"] == "https://bot.example.com/hook"
    assert params["secret_token"] == WEBHOOK_SECRET
    # what the router handles, edited messages included (their note to the user used to be unreachable)
    assert params["allowed_updates"] == ["message", "edited_message", "callback_query", "my_chat_member"]
    assert admin_fn.request("DELETE", "/webhook", headers=AUTH).status_code == 200
    assert telegram.calls_to("deleteWebhook")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"webhook_url": "http://bot.example.com/hook"}, "https"),
        ({"webhook_url": "not a url"}, "https"),
        ({}, "webhook_url"),
        ({"webhook_url": "https://x.example.com", "extra": 1}, "extra"),
        ([1], "JSON object"),
    ],
)
def test_webhook_set_refuses_bad_input(
    admin_fn: FunctionServer, telegram: FakeTelegram, body: object, field: str
) -> None:
    response = admin_fn.post("/webhook/set", json=body, headers=AUTH)
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert telegram.calls_to("setWebhook") == []


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]
)
def test_a_json_body_is_read_whatever_its_content_type(
    admin_fn: FunctionServer, telegram: FakeTelegram, content_type: str | None
) -> None:
    add_crm_user("u-7", "seven@example.com")
    headers = AUTH | ({"Content-Type": content_type} if content_type else {})
    response = admin_fn.post("/link-codes", data=b'{"user_id": "u-7"}', headers=headers)
    assert response.status_code == 201, response.text
    response = admin_fn.post("/webhook/set", data=b'{"webhook_url": "https://bot.example.com/hook"}', headers=headers)
    assert response.status_code == 200, response.text
    assert telegram.calls_to("setWebhook")[0].params["url"] == "https://bot.example.com/hook"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", "body is empty: send a JSON object"),
        (b"{not json", "body is not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b'{"user_id": "u-7"', "body is not JSON: Expecting ',' delimiter at line 1 column 18"),
        (b"\xff\xfe", "body is not JSON: it is not UTF-8 text"),
        (b'["u-7"]', "body must be a JSON object, not an array"),
        (b'"u-7"', "body must be a JSON object, not a string"),
        (b"7", "body must be a JSON object, not a number"),
        (b"null", "body must be a JSON object, not null"),
        (b'{"user_id": 7}', "user_id: Input should be a valid string"),
        (b'{"user": "u-7"}', "user: Extra inputs are not permitted"),
    ],
)
def test_a_body_that_is_not_the_json_object_a_route_wants_says_exactly_what_is_wrong(
    admin_fn: FunctionServer, raw: bytes, error: str
) -> None:
    add_crm_user("u-7", "seven@example.com")
    for headers in (AUTH, AUTH | {"Content-Type": "application/json"}):
        response = admin_fn.post("/link-codes", data=raw, headers=headers)
        assert response.status_code == 400
        assert response.json() == {"error": error}


def test_commands_sync_publishes_the_guest_menu(admin_fn: FunctionServer, telegram: FakeTelegram) -> None:
    response = admin_fn.post("/commands/sync", headers=AUTH)
    assert response.status_code == 200
    call = telegram.calls_to("setMyCommands")[0]
    names = [command["command"] for command in call.params["commands"]]
    assert names[:2] == ["start", "help"]
    assert "login" in names
    assert "logout" not in names
    assert "scope" not in call.params


def test_link_code_by_user_id_and_email_links_through_the_webhook(
    admin_fn: FunctionServer, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user("u-7", "seven@example.com", name="Seven")
    by_id = admin_fn.post("/link-codes", json={"user_id": "u-7"}, headers=AUTH)
    assert by_id.status_code == 201
    issued = by_id.json()
    assert issued["deep_link"] == f"https://t.me/crm_test_bot?start={issued['code']}"
    expires = dt.datetime.fromisoformat(issued["expires_at"])
    assert dt.timedelta(minutes=9) < expires - clock.now() <= dt.timedelta(minutes=10)
    by_email = admin_fn.post("/link-codes", json={"email": "SEVEN@example.com"}, headers=AUTH)
    assert by_email.status_code == 201

    ChatUser(webhook, 77).send(f"/start {issued['code']}")
    assert "Welcome, Seven" in telegram.last_text(77)


@pytest.mark.parametrize(
    ("body", "status"),
    [({"user_id": "missing"}, 404), ({}, 400), ({"user_id": "u-7", "email": "a@b.c"}, 400), ({"user_id": 5}, 400)],
)
def test_link_code_bad_requests(admin_fn: FunctionServer, body: object, status: int) -> None:
    add_crm_user("u-7", "seven@example.com")
    assert admin_fn.post("/link-codes", json=body, headers=AUTH).status_code == status


def test_link_code_for_an_inactive_user_is_refused(admin_fn: FunctionServer) -> None:
    add_crm_user("u-8", "eight@example.com", is_active=False)
    assert admin_fn.post("/link-codes", json={"user_id": "u-8"}, headers=AUTH).status_code == 409


def test_users_list_filter_and_unlink(admin_fn: FunctionServer, telegram: FakeTelegram) -> None:
    link(1, "c-1", Role.CUSTOMER, "Cathy")
    link(2, "v-1", Role.VENDOR, "Vic")
    everyone = admin_fn.get("/users?linked=true", headers=AUTH).json()["users"]
    assert {user["name"] for user in everyone} == {"Cathy", "Vic"}
    vendors = admin_fn.get("/users?linked=true&role=vendor", headers=AUTH).json()["users"]
    assert [(u["name"], u["telegram_username"], u["blocked"]) for u in vendors] == [("Vic", "tg2", False)]
    assert admin_fn.get("/users?role=boss", headers=AUTH).status_code == 400

    assert admin_fn.post("/users/1/unlink", headers=AUTH).status_code == 200
    assert not get_db().collection("tg_links").document("1").get().exists
    assert telegram.calls_to("deleteMyCommands")[0].params["scope"] == {"type": "chat", "chat_id": 1}
    assert admin_fn.post("/users/1/unlink", headers=AUTH).status_code == 404


def lock_out(webhook: FunctionServer, telegram_user_id: int, email: str) -> ChatUser:
    user = ChatUser(webhook, telegram_user_id)
    user.send(f"/login {email}")
    for guess in ("wrong-1", "wrong-2", "wrong-3"):
        user.send(guess)
    return user


def test_lifting_the_lockouts_of_a_telegram_user_and_of_an_email_lets_the_owner_log_in(
    admin_fn: FunctionServer, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user("u-1", "a@example.com", "pw", name="Ann")
    user = lock_out(webhook, 8, "a@example.com")

    lifted = admin_fn.request("DELETE", "/lockouts/8", headers=AUTH)
    assert (lifted.status_code, lifted.json()) == (200, {"ok": True, "telegram_user_id": 8, "lifted": True})
    user.send("/login a@example.com")
    user.send("pw")
    assert "Too many failed login attempts" in telegram.last_text(8), "the email's lockout is its own"

    lifted = admin_fn.request("DELETE", "/lockouts", params={"email": " A@Example.com"}, headers=AUTH)
    assert (lifted.status_code, lifted.json()) == (200, {"ok": True, "email": "a@example.com", "lifted": True})
    user.send("/login a@example.com")
    user.send("pw")
    assert "Welcome, Ann" in telegram.last_text(8)

    assert admin_fn.request("DELETE", "/lockouts/8", headers=AUTH).json()["lifted"] is False
    entries = [e for e in admin_fn.get("/audit", headers=AUTH).json()["entries"] if e["event"] == "lockout_lifted"]
    assert [(e["telegram_user_id"], e["crm_user_id"], e["details"]) for e in reversed(entries)] == [
        (8, None, {"scope": "telegram_user"}),
        (None, "u-1", {"scope": "email"}),
    ]


def test_lifting_an_email_lockout_says_nothing_of_whether_the_email_is_registered(
    admin_fn: FunctionServer, webhook: FunctionServer
) -> None:
    add_crm_user("u-1", "known@example.com")
    for email in ("known@example.com", "nobody@example.com"):
        answer = admin_fn.request("DELETE", "/lockouts", params={"email": email}, headers=AUTH)
        assert (answer.status_code, answer.json()) == (200, {"ok": True, "email": email, "lifted": False})
    lock_out(webhook, 9, "nobody@example.com")
    answer = admin_fn.request("DELETE", "/lockouts", params={"email": "nobody@example.com"}, headers=AUTH)
    assert answer.json() == {"ok": True, "email": "nobody@example.com", "lifted": True}


@pytest.mark.parametrize(
    ("method", "path", "status", "field"),
    [
        ("DELETE", "/lockouts", 400, "email"),
        ("DELETE", "/lockouts?email=not-an-email", 400, "email"),
        ("DELETE", "/lockouts/8?email=a@example.com", 400, "email"),
        ("DELETE", "/lockouts/eight", 404, "/lockouts/eight"),
        ("GET", "/lockouts/8", 405, "GET"),
    ],
)
def test_lifting_a_lockout_refuses_bad_input(
    admin_fn: FunctionServer, method: str, path: str, status: int, field: str
) -> None:
    answer = admin_fn.request(method, path, headers=AUTH)
    assert answer.status_code == status
    assert field in answer.json()["error"]


def test_audit_since_and_limit(admin_fn: FunctionServer, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    add_crm_user("u-1", "a@example.com", "pw")
    user = ChatUser(webhook, 5)
    user.send("/login a@example.com")
    for _ in range(2):
        user.send("wrong")  # a second /login here would be the third wrong password
    entries = admin_fn.get("/audit?limit=1", headers=AUTH).json()["entries"]
    assert len(entries) == 1
    assert entries[0]["event"] == "login_failed"
    assert "wrong" not in repr(entries)
    future = (clock.now() + dt.timedelta(hours=1)).isoformat()
    assert admin_fn.get("/audit", params={"since": future}, headers=AUTH).json()["entries"] == []
    assert admin_fn.get("/audit?since=yesterday", headers=AUTH).status_code == 400
    assert admin_fn.get("/audit?limit=0", headers=AUTH).status_code == 400


def test_stats_counts_links_logins_and_commands(admin_fn: FunctionServer, webhook: FunctionServer) -> None:
    add_crm_user("u-1", "a@example.com", "pw", role="employee")
    user = ChatUser(webhook, 6)
    user.send("/login a@example.com")
    user.send("wrong")
    user.send("pw")
    user.send("/me")
    user.send("/me")
    stats = admin_fn.get("/stats?days=7", headers=AUTH).json()
    assert stats["linked_users"] == {"total": 1, "by_role": {"vendor": 0, "employee": 1, "customer": 0}}
    assert stats["linkings_last_7_days"] == 1
    assert stats["failed_logins"] == 1
    assert {"command": "me", "count": 2} in stats["most_used_commands"]
    assert set(stats["notifications"]) == {"by_status", "delivery_rate"}
    assert admin_fn.get("/stats?days=0", headers=AUTH).status_code == 400


def test_notifications_listing_validates_status(admin_fn: FunctionServer) -> None:
    assert admin_fn.get("/notifications?status=failed", headers=AUTH).json() == {"notifications": []}
    assert admin_fn.get("/notifications?status=sent", headers=AUTH).status_code == 400


# ----- the website's token: link codes only -----
def test_the_link_code_token_creates_link_codes(admin_fn: FunctionServer, telegram: FakeTelegram) -> None:
    add_crm_user("u-7", "seven@example.com", name="Seven")
    response = admin_fn.post("/link-codes", json={"email": "seven@example.com"}, headers=WEBSITE_AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["deep_link"].startswith("https://t.me/crm_test_bot?start=")
    assert admin_fn.post("/link-codes", json={"user_id": "u-7"}, headers=AUTH).status_code == 201


def _every_other_route() -> list[tuple[str, str]]:
    """(method, path) of every admin route the website's token may not call, read from the route table, and a path
    there is not."""
    calls = [("GET", "/nope"), ("GET", "/link-codes")]
    for route in ROUTES.routes:
        if Caller.WEBSITE not in route.callers:
            calls.append((route.method, re.sub(r"<[^>]+>", "1", route.path)))
    return calls


def test_the_link_code_token_is_refused_on_every_other_route(admin_fn: FunctionServer, telegram: FakeTelegram) -> None:
    linked = link(1, "c-1")
    routes = _every_other_route()
    assert ("POST", "/users/1/unlink") in routes
    for method, path in routes:
        body = {"webhook_url": "https://evil.example.com"}
        response = admin_fn.request(method, path, json=body, headers=WEBSITE_AUTH)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json() == {"error": "this token only creates link codes (POST /link-codes)"}
    assert telegram.calls == []
    assert links.get_link(1) == linked


def test_without_link_code_api_token_only_the_admin_token_makes_link_codes(
    admin_fn: FunctionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_crm_user("u-7", "seven@example.com")
    monkeypatch.setenv("LINK_CODE_API_TOKEN", "")
    get_settings.forget()
    for headers in (WEBSITE_AUTH, {"Authorization": "Bearer "}):
        response = admin_fn.post("/link-codes", json={"user_id": "u-7"}, headers=headers)
        assert response.status_code == 401
    assert admin_fn.post("/link-codes", json={"user_id": "u-7"}, headers=AUTH).status_code == 201


def test_a_wrong_or_truncated_link_code_token_is_401(admin_fn: FunctionServer) -> None:
    add_crm_user("u-7", "seven@example.com")
    for token in (LINK_CODE_TOKEN[:-1], LINK_CODE_TOKEN + "x", LINK_CODE_TOKEN.upper()):
        response = admin_fn.post("/link-codes", json={"user_id": "u-7"}, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


# ----- re-drives over HTTP -----
def test_a_redrive_skips_what_can_never_be_sent_says_why_and_sends_the_rest(
    admin_fn: FunctionServer, notify_fn: FunctionServer, telegram: FakeTelegram
) -> None:
    link_user("u1", 501, customer_id="c1")
    get_db().collection("orders").document("o-org-2").set({"customer_id": "c1", "org_id": "org-2"})
    refused = [event("e-customer", customer_id="c2"), event("e-org", "order.paid", order_id="o-org-2")]
    answer = signed_post(notify_fn, {"events": refused}).json()
    assert [result["status"] for result in answer["results"]] == ["failed", "failed"]
    clock.advance(dt.timedelta(seconds=1))
    telegram.fail("sendMessage", 502, "Bad Gateway", times=3)
    [transient] = signed_post(notify_fn, event("e-telegram", "message")).json()["results"]
    assert transient["status"] == "failed"

    response = admin_fn.post("/notifications/redrive", json={"limit": 1}, headers=AUTH)
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(result["id"], result["status"]) for result in report["results"]] == [("e-telegram", "sent")]
    assert (report["counts"], report["skipped"]) == ({"sent": 1}, 2)
    assert report["skipped_by_reason"] == {"other_customer": 1, "other_organisation": 1}
    for event_id in ("e-customer", "e-org"):
        entry = ledger_doc(event_id)
        assert entry is not None
        assert (entry["status"], entry["redrives"]) == ("failed", 0)
    again = admin_fn.post("/notifications/redrive", headers=AUTH).json()
    assert (again["results"], again["skipped"]) == ([], 2)


# ----- the README against the one declaration of the routes -----
def test_the_readme_lists_every_admin_route_and_no_other() -> None:
    readme = (ROOT / "README.md").read_text()
    admin_section = readme.split("- **admin**", 1)[1].split("\n\n", 1)[0]
    listed = {" ".join(found) for found in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)", admin_section)}
    assert listed == {route.label for route in ROUTES.routes}


def test_the_readme_names_the_update_kinds_the_router_handles() -> None:
    """setWebhook and polling subscribe to the router's kinds; the README says which, and must say the same."""
    from shared.bot.router import UPDATE_KINDS

    sentence = (ROOT / "README.md").read_text().split("The bot handles (and subscribes to)", 1)[1].split(" in", 1)[0]
    assert tuple(re.findall(r"`(\w+)`", sentence)) == UPDATE_KINDS
