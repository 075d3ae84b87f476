"""Account linking over chat: login, lockouts, deep-link codes, sessions, menus and audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from werkzeug.wrappers import Request, Response

from shared import clock
from shared.auth.link_codes import issue_link_code
from shared.config import get_settings
from shared.crm.backend import get_crm
from shared.store import db
from shared.store.db import get_db
from tests.chat import ChatUser
from tests.crm_world import CrmWorld, FirestoreWorld, RestWorld, add_crm_account
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import FunctionServer

pytestmark = pytest.mark.emulator

PASSWORD = "s3cret-Passw0rd"


def add_crm_user(world: CrmWorld, user_id: str, email: str, password: str = PASSWORD, **fields: Any) -> None:
    """A CRM login in `world`, with this file's password unless told."""
    add_crm_account(world, user_id, email, password, **fields)


def crm_requests(world: CrmWorld, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests the reference CRM answers from now on ("GET /users/u-1"); over Firestore there are none."""
    seen: list[str] = []
    if isinstance(world, RestWorld):
        answer = world.crm.answer

        def recorded(request: Request) -> Response:
            seen.append(f"{request.method} {request.path}")
            return answer(request)

        monkeypatch.setattr(world.crm, "answer", recorded)
    return seen


def audit_events() -> list[dict[str, Any]]:
    return [doc.to_dict() or {} for doc in get_db().collection("tg_audit").stream()]


def link_of(telegram_user_id: int) -> dict[str, Any] | None:
    snapshot = get_db().collection("tg_links").document(str(telegram_user_id)).get()
    return snapshot.to_dict() if snapshot.exists else None


def log_in(user: ChatUser, email: str, password: str = PASSWORD) -> None:
    user.send("/start")
    user.send(email)
    user.send(password)


def lock_out(user: ChatUser, email: str) -> None:
    """Three wrong passwords for `email`: the Telegram user and the email are locked out."""
    user.send(f"/login {email}")
    for guess in ("guess-1", "guess-2", "guess-3"):
        user.send(guess)


def failure_counters() -> dict[str, dict[str, Any]]:
    return {doc.id: doc.to_dict() or {} for doc in get_db().collection("tg_login_failures").stream()}


class DocumentGets(grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """The path of every document the served functions get from Firestore, found or not."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        if details.method.endswith("/BatchGetDocuments"):
            self.paths.extend(name.split("/documents/", 1)[1] for name in request.documents)
        return continuation(details, request)


@pytest.fixture
def document_gets(env: dict[str, str]) -> Iterator[DocumentGets]:
    gets = DocumentGets()
    db.observe_rpcs(gets)
    yield gets
    db.stop_observing()


def test_full_login_links_greets_by_name_and_sets_the_role_menu(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "Vera@Example.com", PASSWORD, role="vendor", name="Vera Vendor")
    user = ChatUser(webhook, 100)
    user.send("/start")
    assert "email" in telegram.last_text(100)
    user.send("  VERA@example.com ")
    assert "password" in telegram.last_text(100)
    user.send(PASSWORD)

    assert [c.params for c in telegram.calls_to("deleteMessage")] == [
        {"chat_id": 100, "message_id": user.last_message_id}
    ]
    greeting = telegram.last_text(100)
    assert "Welcome, Vera Vendor" in greeting
    assert "/deals" in greeting or "/me" in greeting
    link = link_of(100)
    assert link is not None
    assert (link["crm_user_id"], link["role"], link["org_id"]) == ("u-1", "vendor", "org-1")
    menus = telegram.calls_to("setMyCommands")
    assert menus[-1].params["scope"] == {"type": "chat", "chat_id": 100}
    assert {"command": "me", "description": "View your account information"} in menus[-1].params["commands"]
    assert "login" not in [c["command"] for c in menus[-1].params["commands"]]
    linked = [e for e in audit_events() if e["event"] == "linked"]
    assert linked[0]["crm_user_id"] == "u-1"
    assert linked[0]["details"]["method"] == "password"

    user.send("/me")
    me = telegram.last_text(100)
    assert "vera@example.com" in me
    assert "vendor" in me
    assert "org-1" in me


def test_password_never_reaches_audit_or_any_reply(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    user = ChatUser(webhook, 100)
    log_in(user, "a@example.com", "wrong-" + PASSWORD)
    log_in(user, "a@example.com")
    everything = repr(audit_events()) + repr(telegram.sent_texts())
    for doc in get_db().collection("tg_login_flows").stream():
        everything += repr(doc.to_dict())
    assert PASSWORD not in everything


def test_unknown_email_gets_exactly_the_same_replies_as_a_known_one(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "known@example.com", PASSWORD)
    known, unknown = ChatUser(webhook, 1), ChatUser(webhook, 2)
    for step in ("/start", "{email}", "bad password", "bad password"):
        known.send(step.format(email="known@example.com"))
        unknown.send(step.format(email="nobody@example.com"))
    assert telegram.sent_texts(1) == telegram.sent_texts(2)
    assert "incorrect" in telegram.last_text(1)
    # The audit names the account a refusal was for (over REST found by GET /users after the CRM's one refusal).
    failed = [e for e in audit_events() if e["event"] == "login_failed"]
    assert sorted(e["telegram_user_id"] for e in failed if e["crm_user_id"] == "u-1") == [1, 1]
    assert sorted(e["telegram_user_id"] for e in failed if e["crm_user_id"] is None) == [2, 2]


def test_three_failures_lock_out_the_telegram_user_and_the_email_everywhere(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    attacker = ChatUser(webhook, 300)
    attacker.send("/login a@example.com")
    attacker.send("guess-1")
    assert "2 attempts left" in telegram.last_text(300)
    attacker.send("guess-2")
    assert "1 attempt left" in telegram.last_text(300)
    attacker.send("guess-3")
    assert "Too many failed login attempts" in telegram.last_text(300)
    assert "15 minutes" in telegram.last_text(300)

    attacker.send("/login a@example.com")
    assert "Too many failed login attempts" in telegram.last_text(300)

    other_chat = ChatUser(webhook, 301)
    other_chat.send("/login a@example.com")
    other_chat.send(PASSWORD)
    assert "Too many failed login attempts" in telegram.last_text(301)
    assert link_of(301) is None
    events = [e["event"] for e in audit_events()]
    assert events.count("login_failed") == 3
    assert "login_locked_out" in events

    clock.advance(dt.timedelta(minutes=16))
    other_chat.send("/login a@example.com")
    other_chat.send(PASSWORD)
    assert link_of(301) is not None


@pytest.mark.parametrize("password", [PASSWORD, "/Sl4sh-first", "/frobnicate " + PASSWORD, "own@example.com"])
def test_a_password_typed_during_a_lockout_is_deleted_and_neither_checked_nor_counted(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, password: str
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", password)
    user = ChatUser(webhook, 330)
    lock_out(user, "a@example.com")
    counters, deleted = failure_counters(), len(telegram.calls_to("deleteMessage"))

    user.send(password)

    assert [call.params for call in telegram.calls_to("deleteMessage")[deleted:]] == [
        {"chat_id": 330, "message_id": user.last_message_id}
    ]
    notice = telegram.last_text(330)
    assert "deleted your message" in notice
    assert "Too many failed login attempts" in notice
    assert link_of(330) is None
    assert failure_counters() == counters
    assert [e["event"] for e in audit_events()].count("login_failed") == 3


def test_the_owner_of_an_email_locked_by_someone_elses_guesses_has_the_password_typed_again_deleted(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    """Found by a review: only a Telegram user's own lockout was looked at, so when someone else's guesses had
    locked the email, the owner's second try at the password stayed in the chat."""
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    lock_out(ChatUser(webhook, 340), "a@example.com")  # another Telegram account guessed three times
    owner = ChatUser(webhook, 341)
    owner.send("/login a@example.com")
    owner.send(PASSWORD)
    assert "Too many failed login attempts" in telegram.last_text(341)
    deleted = len(telegram.calls_to("deleteMessage"))

    owner.send(PASSWORD)  # typed again

    assert [call.params for call in telegram.calls_to("deleteMessage")[deleted:]] == [
        {"chat_id": 341, "message_id": owner.last_message_id}
    ]
    assert "deleted your message" in telegram.last_text(341)
    assert link_of(341) is None


def test_the_lockout_notice_says_when_it_ends_and_how_to_log_in_without_a_password(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_TIME_ZONE", "Asia/Kolkata")
    get_settings.forget()
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD, name="Locked Lou")
    user = ChatUser(webhook, 331)
    lock_out(user, "a@example.com")
    ends = f"{failure_counters()['tg-331']['locked_until'].astimezone(ZoneInfo('Asia/Kolkata')):%H:%M} IST"
    notice = telegram.last_text(331)
    assert f"15 minutes, at {ends}" in notice
    assert "<b>Link Telegram</b>" in notice
    assert '<a href="https://crm.example.com">' in notice

    clock.advance(dt.timedelta(minutes=10))
    deleted = len(telegram.calls_to("deleteMessage"))
    user.send("/start")
    assert f"5 minutes, at {ends}" in telegram.last_text(331)
    user.send("/help")
    assert "/login — Log in" in telegram.last_text(331)
    assert len(telegram.calls_to("deleteMessage")) == deleted, "commands are answered, not deleted"

    crm_user = get_crm().get_user("u-1")
    assert crm_user is not None
    user.send(f"/start {issue_link_code(crm_user, 'crm_test_bot').code}")
    assert "Welcome, Locked Lou" in telegram.last_text(331)


def test_logging_into_your_own_account_keeps_your_failed_guesses_on_other_emails(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-own", "own@example.com", PASSWORD)
    add_crm_user(crm_world, "u-victim-1", "victim-1@example.com", PASSWORD)
    add_crm_user(crm_world, "u-victim-2", "victim-2@example.com", PASSWORD)
    attacker = ChatUser(webhook, 310)
    attacker.send("/login victim-1@example.com")
    attacker.send("guess-1")
    attacker.send("guess-2")
    assert "1 attempt left" in telegram.last_text(310)
    attacker.send("/cancel")
    log_in(attacker, "own@example.com")
    assert link_of(310) is not None
    attacker.send("/logout")

    attacker.send("/login victim-2@example.com")
    attacker.send("guess-3")
    assert "Too many failed login attempts" in telegram.last_text(310)
    attacker.send("/login own@example.com")
    assert "Too many failed login attempts" in telegram.last_text(310)


def test_a_successful_login_clears_the_failures_of_its_email(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    ChatUser(webhook, 320).send("/login a@example.com")
    ChatUser(webhook, 320).send("typo")
    ChatUser(webhook, 321).send("/login a@example.com")
    ChatUser(webhook, 321).send("typo")
    log_in(ChatUser(webhook, 322), "a@example.com")
    ChatUser(webhook, 322).send("/logout")
    other = ChatUser(webhook, 323)
    other.send("/login a@example.com")
    other.send("typo")
    assert "2 attempts left" in telegram.last_text(323), "the email's count started again after its login"


def test_failures_spread_over_many_chats_lock_the_email(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    for chat in (401, 402, 403):
        user = ChatUser(webhook, chat)
        user.send("/login a@example.com")
        user.send("guess")
    owner = ChatUser(webhook, 404)
    owner.send("/login a@example.com")
    owner.send(PASSWORD)
    assert "Too many failed login attempts" in telegram.last_text(404)
    assert link_of(404) is None


def test_login_flow_expires_after_ten_minutes(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    user = ChatUser(webhook, 500)
    user.send("/start")
    user.send("a@example.com")
    clock.advance(dt.timedelta(minutes=10, seconds=1))
    user.send(PASSWORD)
    assert "Authentication session expired" in telegram.last_text(500)
    assert telegram.calls_to("deleteMessage"), "the password message is deleted even when the flow expired"
    assert link_of(500) is None


def test_password_message_that_cannot_be_deleted_is_reported(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    telegram.fail("deleteMessage", 400, "Bad Request: message can't be deleted")
    log_in(ChatUser(webhook, 501), "a@example.com")
    assert any("delete it yourself" in text for text in telegram.sent_texts(501))
    assert link_of(501) is not None


@pytest.mark.parametrize("password", ["/start", "/help me", "/cancel now", "/Sl4sh-first", "/login a@example.com"])
def test_a_password_that_looks_like_a_command_is_deleted_and_checked(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram, password: str
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", password, name="Slash Sam")
    user = ChatUser(webhook, 502)
    user.send("/login a@example.com")
    user.send("/" + password[1:].upper() + "-wrong")
    assert "incorrect" in telegram.last_text(502)
    user.send(password)
    deleted = [call.params["message_id"] for call in telegram.calls_to("deleteMessage")]
    assert deleted == [user.last_message_id - 1, user.last_message_id]
    assert "Welcome, Slash Sam" in telegram.last_text(502)
    assert link_of(502) is not None


def test_cancel_at_the_password_step_cancels(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    user = ChatUser(webhook, 503)
    user.send("/login a@example.com")
    user.send("/cancel")
    assert "Login cancelled" in telegram.last_text(503)
    assert telegram.calls_to("deleteMessage") == []
    user.send(PASSWORD)
    assert "not logged in" in telegram.last_text(503)
    assert link_of(503) is None


def test_cancel_with_nothing_in_progress_says_so_to_guests_and_linked_users_alike(
    crm_world: CrmWorld,
    webhook: FunctionServer,
    telegram: FakeTelegram,
    document_gets: DocumentGets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    guest = ChatUser(webhook, 506)
    guest.send("/cancel")
    assert telegram.last_text(506) == "There's nothing to cancel."

    log_in(guest, "a@example.com")
    menu = [command["command"] for command in telegram.calls_to("setMyCommands")[-1].params["commands"]]
    assert "cancel" in menu
    guest.send("/help")
    assert "/cancel — " in telegram.last_text(506)
    document_gets.paths.clear()
    asked = crm_requests(crm_world, monkeypatch)
    guest.send("/cancel")
    assert telegram.last_text(506) == "There's nothing to cancel."
    if crm_world.backend == "rest":  # the session's CRM user is the CRM's answer, not a Firestore read
        assert document_gets.paths == ["tg_links/506"], "a linked user has no login flow to look for"
        assert asked == ["GET /users/u-1"]
    else:
        assert document_gets.paths == ["tg_links/506", "crm_users/u-1"], "a linked user has no login flow to look for"


def test_a_linked_users_commands_never_look_for_a_login_flow(
    crm_world: CrmWorld,
    webhook: FunctionServer,
    telegram: FakeTelegram,
    document_gets: DocumentGets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    user = ChatUser(webhook, 505)
    log_in(user, "a@example.com")
    document_gets.paths.clear()
    asked = crm_requests(crm_world, monkeypatch)
    user.send("/me")
    user.send("/help")
    if crm_world.backend == "rest":  # the session's CRM user is the CRM's answer, not a Firestore read
        assert document_gets.paths == ["tg_links/505"] * 2
        assert asked == ["GET /users/u-1"] * 2
    else:
        assert document_gets.paths == ["tg_links/505", "crm_users/u-1"] * 2


def test_commands_run_again_once_the_password_step_has_expired(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    user = ChatUser(webhook, 504)
    user.send("/login a@example.com")
    clock.advance(dt.timedelta(minutes=10, seconds=1))
    user.send("/help")
    assert "/login — Log in" in telegram.last_text(504)
    assert telegram.calls_to("deleteMessage") == []


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "a" * 300 + "@example.com", "<b>x</b>@example.com", "ünïcode@exämple.com?", "@"],
)
def test_bad_emails_get_a_clear_reply(webhook: FunctionServer, telegram: FakeTelegram, email: str) -> None:
    user = ChatUser(webhook, 600)
    user.send("/start")
    user.send(email)
    assert "doesn't look like an email" in telegram.last_text(600)


def test_empty_and_non_text_messages_during_login(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    user = ChatUser(webhook, 601)
    user.send("/start")
    user.send("   ")
    assert "doesn't look like an email" in telegram.last_text(601)
    user.send(None, photo=[{"file_id": "x", "file_unique_id": "y", "width": 1, "height": 1}])
    assert "text" in telegram.last_text(601)


def test_inactive_account_cannot_log_in(crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD, is_active=False)
    log_in(ChatUser(webhook, 700), "a@example.com")
    assert "incorrect" in telegram.last_text(700)
    assert link_of(700) is None
    assert [e["crm_user_id"] for e in audit_events() if e["event"] == "login_failed"] == ["u-1"]


# Firestore adapter only: over REST the bot never sees a hash (the CRM checks its own), so no format is ours to refuse.
def test_unknown_hash_format_is_a_failed_login_not_a_crash(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    add_crm_user(FirestoreWorld(), "u-1", "a@example.com", password_hash="argon2$argon2id$v=19$m=102400$abc$def")
    log_in(ChatUser(webhook, 701), "a@example.com")
    assert "incorrect" in telegram.last_text(701)


# Firestore adapter only: over REST the reference CRM checks its own hashes with this verifier (its test, not ours).
def test_bcrypt_hashes_from_the_crm_are_accepted(webhook: FunctionServer, telegram: FakeTelegram) -> None:
    import bcrypt

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    add_crm_user(FirestoreWorld(), "u-1", "a@example.com", password_hash=hashed)
    log_in(ChatUser(webhook, 702), "a@example.com")
    assert link_of(702) is not None


def test_deactivation_is_noticed_on_the_next_message(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    user = ChatUser(webhook, 800)
    log_in(user, "a@example.com")
    crm_world.change_user("u-1", is_active=False)
    user.send("/me")
    assert "no longer active" in telegram.last_text(800)
    assert link_of(800) is None
    assert telegram.calls_to("deleteMyCommands")[-1].params["scope"] == {"type": "chat", "chat_id": 800}
    user.send("/me")
    assert "not logged in" in telegram.last_text(800)


def test_role_change_is_noticed_and_permissions_follow(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD, role="employee")
    user = ChatUser(webhook, 801)
    log_in(user, "a@example.com")
    crm_world.change_user("u-1", role="customer", customer_id="c-9")
    user.send("/me")
    texts = telegram.sent_texts(801)
    assert any("role is now <b>customer</b>" in text for text in texts)
    assert "customer" in texts[-1]
    link = link_of(801)
    assert link is not None
    assert (link["role"], link["customer_id"]) == ("customer", "c-9")
    commands = [c["command"] for c in telegram.calls_to("setMyCommands")[-1].params["commands"]]
    assert "me" in commands


def test_logout_unlinks_clears_history_and_resets_the_menu(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    user = ChatUser(webhook, 900)
    log_in(user, "a@example.com")
    usage = {"minutes": {"202601010000": 3}, "days": {"2026-01-01": {"messages": 3, "tokens": 900}}}
    exchanges = {"20260101000000000000-00": {"crm_user_id": "u-1", "contents": ["{}"]}}
    get_db().collection("tg_history").document("900").set(usage | {"exchanges": exchanges})
    user.send("/unlink")
    assert "logged out" in telegram.last_text(900)
    assert link_of(900) is None
    # The conversation is gone; the usage stays (logging out and in is no way round the daily budget).
    assert get_db().collection("tg_history").document("900").get().to_dict() == usage
    assert telegram.calls_to("deleteMyCommands")[-1].params["scope"] == {"type": "chat", "chat_id": 900}
    assert [e["details"]["reason"] for e in audit_events() if e["event"] == "unlinked"] == ["logout"]


def test_login_while_linked_does_not_start_a_flow(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD, name="Ann")
    user = ChatUser(webhook, 901)
    log_in(user, "a@example.com")
    user.send("/start")
    assert "Welcome back, <b>Ann</b>" in telegram.last_text(901)
    user.send("/login")
    assert "already logged in" in telegram.last_text(901)


def test_deep_link_code_links_once(crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD, name="Coded Carl")
    crm_user = get_crm().get_user("u-1")
    assert crm_user is not None
    issued = issue_link_code(crm_user, "crm_test_bot")
    assert issued.deep_link == f"https://t.me/crm_test_bot?start={issued.code}"
    assert len(issued.code) <= 64
    assert all(ch.isalnum() or ch in "-_" for ch in issued.code)
    stored = [doc.id for doc in get_db().collection("tg_link_codes").stream()]
    assert issued.code not in repr(stored)

    user = ChatUser(webhook, 1000)
    user.send(f"/start {issued.code}")
    assert "Welcome, Coded Carl" in telegram.last_text(1000)
    assert link_of(1000) is not None

    thief = ChatUser(webhook, 1001)
    thief.send(f"/start {issued.code}")
    assert "invalid, expired or already used" in telegram.last_text(1001)
    assert link_of(1001) is None
    events = [e["event"] for e in audit_events()]
    assert "link_code_used" in events
    assert "link_code_rejected" in events


def test_a_linked_user_opening_another_accounts_deep_link_keeps_their_link(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "vera@example.com", PASSWORD, name="Vera Vendor")
    add_crm_user(crm_world, "u-2", "olga@example.com", PASSWORD, name="Olga Other", org_id="org-2")
    vendor = ChatUser(webhook, 1010)
    log_in(vendor, "vera@example.com")
    other = get_crm().get_user("u-2")
    assert other is not None
    issued = issue_link_code(other, "crm_test_bot")

    vendor.send(f"/start {issued.code}")
    refusal = telegram.last_text(1010)
    assert "Vera Vendor" in refusal
    assert "vera@example.com" in refusal
    assert "/logout" in refusal
    assert "Olga" not in refusal
    link = link_of(1010)
    assert link is not None
    assert link["crm_user_id"] == "u-1"
    refused = [e for e in audit_events() if e["event"] == "link_code_refused"]
    assert [(e["telegram_user_id"], e["crm_user_id"], e["details"]) for e in refused] == [
        (1010, "u-1", {"reason": "already_linked", "code_crm_user_id": "u-2"})
    ]

    owner = ChatUser(webhook, 1011)
    owner.send(f"/start {issued.code}")
    assert "Welcome, Olga Other" in telegram.last_text(1011)
    owner_link = link_of(1011)
    assert owner_link is not None
    assert owner_link["crm_user_id"] == "u-2"


def test_a_linked_user_opening_their_own_deep_link_is_told_so(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "vera@example.com", PASSWORD, name="Vera Vendor")
    vendor = ChatUser(webhook, 1012)
    log_in(vendor, "vera@example.com")
    crm_user = get_crm().get_user("u-1")
    assert crm_user is not None
    vendor.send(f"/start {issue_link_code(crm_user, 'crm_test_bot').code}")
    assert "already linked to your CRM account" in telegram.last_text(1012)
    assert [e["event"] for e in audit_events()].count("linked") == 1


def test_a_linked_user_opening_an_invalid_deep_link_is_not_sent_to_log_out(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "vera@example.com", PASSWORD)
    vendor = ChatUser(webhook, 1013)
    log_in(vendor, "vera@example.com")
    vendor.send("/start unknown-code")
    assert "invalid, expired or already used" in telegram.last_text(1013)
    assert link_of(1013) is not None


def test_expired_and_unknown_codes_change_nothing(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    crm_user = get_crm().get_user("u-1")
    assert crm_user is not None
    issued = issue_link_code(crm_user, "crm_test_bot")
    clock.advance(dt.timedelta(minutes=10, seconds=1))
    user = ChatUser(webhook, 1002)
    for payload in (issued.code, "unknown-code", "x" * 65, "bad$chars"):
        user.send(f"/start {payload}")
        assert "invalid, expired or already used" in telegram.last_text(1002)
    assert link_of(1002) is None


def test_linking_from_a_second_telegram_account_moves_the_link(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    log_in(ChatUser(webhook, 1100), "a@example.com")
    log_in(ChatUser(webhook, 1101), "a@example.com")
    assert link_of(1100) is None
    assert link_of(1101) is not None


def test_concurrent_messages_never_corrupt_the_login_state(
    crm_world: CrmWorld, webhook: FunctionServer, telegram: FakeTelegram
) -> None:
    add_crm_user(crm_world, "u-1", "a@example.com", PASSWORD)
    user = ChatUser(webhook, 1200)
    user.send("/login a@example.com")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(user.send, ["wrong-1", "wrong-2", "wrong-3", "wrong-4"]))
    counters = {doc.id: doc.to_dict() or {} for doc in get_db().collection("tg_login_failures").stream()}
    assert counters["tg-1200"]["locked_until"] is not None
    failed = [e for e in audit_events() if e["event"] == "login_failed"]
    assert len(failed) == 3, "the fourth message found the flow reset and was not counted as an attempt"
    assert link_of(1200) is None
