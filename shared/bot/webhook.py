"""The Telegram webhook over HTTP: authenticate, parse, de-duplicate, then route."""

from __future__ import annotations

import hmac
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import flask
from pydantic import ValidationError

from shared.bot import texts
from shared.bot.conversation import HeldReply, ReplyLost, WebhookReply
from shared.bot.router import Delivery, counts_of, handle_update, session_reader
from shared.config import InvalidSettingsError, MissingSettingError, get_settings
from shared.crm.port import CrmUnreachable
from shared.http import error_response, json_response
from shared.instance import per_instance
from shared.store import links
from shared.store.errors import StoreError
from shared.store.updates import claim_update
from shared.telegram.client import TelegramClient, get_telegram_client
from shared.telegram.errors import TelegramError
from shared.telegram.send_policy import message_parts
from shared.telegram.types import Update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1_000_000


def handle_webhook_request(request: flask.Request) -> flask.Response:
    """Answer one POST from Telegram."""
    try:
        settings = get_settings()
        expected = settings.require("TG_WEBHOOK_SECRET")
    except (MissingSettingError, InvalidSettingsError) as error:
        log.error("webhook misconfigured: %s", error)
        return error_response(503, str(error))
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return error_response(401, "missing or wrong secret token")
    if request.method != "POST":
        return error_response(405, "use POST")

    update = parse_update(request.get_data(cache=False))
    if isinstance(update, str):
        return error_response(400, update)
    try:
        telegram = get_telegram_client()
    except MissingSettingError as error:
        log.error("webhook misconfigured: %s", error)
        return error_response(503, str(error))
    reply = WebhookReply()
    try:
        fresh = take_update(update, telegram, reply)
    except StoreError as error:
        log.error("update %s not claimed, Firestore unavailable: %s", update.update_id, error)
        return error_response(503, "storage unavailable, retry later")
    if not fresh:
        return json_response({"ok": True, "duplicate": True})
    return json_response(reply.answer() or {"ok": True})


@per_instance
def _readers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="link-read")


def take_update(update: Update, telegram: TelegramClient, webhook_reply: WebhookReply | None = None) -> bool:
    """Claim the update (with its usage counts) and handle it; False for a duplicate, handled by no one.

    The sender's link is read while the claim is written, so a linked user's command waits for two Firestore
    round trips one after another (the claim with the link, then the CRM user), not three; its last reply can
    wait in `webhook_reply` for the webhook's answer. Raises the store's error when the claim cannot be written:
    nothing was done, and Telegram sends the update again.
    """
    reader = session_reader(update)
    link_read = _readers().submit(links.get_link, reader) if reader is not None else None
    try:
        fresh = claim_update(update.update_id, update.kind, counts_of(update))
    except BaseException:
        if link_read is not None:
            link_read.cancel()
        raise
    if not fresh:
        return False
    process_update(update, telegram, Delivery(link_read.result if link_read is not None else None, webhook_reply))
    return True


def parse_update(body: bytes) -> Update | str:
    """The Update in a request body, or a short reason why it is not one."""
    if len(body) > MAX_BODY_BYTES:
        return "body too large"
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError, bad UTF-8, huge integers, deep nesting
        return "body is not JSON"
    if not isinstance(payload, dict):
        return "body is not a Telegram Update object"
    try:
        return Update.model_validate(payload)
    except ValidationError as error:
        where = ".".join(str(part) for part in error.errors()[0]["loc"])
        return f"not a Telegram Update: invalid or missing field '{where}'"


def process_update(update: Update, telegram: TelegramClient, delivery: Delivery) -> None:
    """Route a claimed update; failures are logged and, where possible, the user is told."""
    reply = delivery.webhook_reply
    try:
        handle_update(update, telegram, delivery)
    except CrmUnreachable as error:  # Telegram still gets its 200: sending the update again would not help
        log.warning("update %s (%s): the CRM could not answer: %s", update.update_id, update.kind, error)
        _apologise(update, telegram, reply, apology=texts.CRM_BUSY if error.busy else texts.CRM_UNREACHABLE)
        return
    except (TelegramError, StoreError, ReplyLost) as error:
        log.error("update %s (%s) failed: %s", update.update_id, update.kind, error)
        _apologise(update, telegram, reply, error.held if isinstance(error, ReplyLost) else None)
        return
    except Exception:
        log.exception("update %s (%s) failed", update.update_id, update.kind)
        _apologise(update, telegram, reply)
        return
    if reply is not None and reply.held is not None and not reply.open:
        held = reply.take()
        assert held is not None
        _send(telegram, held, "a reply to chat %s was lost: %s")


def _apologise(
    update: Update,
    telegram: TelegramClient,
    reply: WebhookReply | None,
    lost: HeldReply | None = None,
    apology: str = texts.SOMETHING_WENT_WRONG,
) -> None:
    """Say something went wrong, after what was said before it went wrong: a held reply goes by the Bot API first,
    and the apology takes its place in the webhook's answer, after the `lost` reply's text when it fits with it."""
    message = update.message or update.edited_message
    chat = message.chat if message else None
    if update.callback_query is not None and update.callback_query.message is not None:
        chat = update.callback_query.message.chat
    if chat is None or chat.type != "private":
        return
    held = reply.take() if reply is not None else None
    if held is not None:
        _send(telegram, held, "could not tell chat %s what was said before its update failed: %s")
    if lost is not None and lost.chat_id == chat.id and len(message_parts(f"{lost.html}\n\n{apology}")) == 1:
        apology = f"{lost.html}\n\n{apology}"
    if reply is not None and reply.open:
        reply.held = HeldReply(chat.id, apology, None)
    else:
        _send(telegram, HeldReply(chat.id, apology, None), "could not tell chat %s that its update failed: %s")


def _send(telegram: TelegramClient, held: HeldReply, failure: str) -> None:
    """Send a held reply by the Bot API; a failure is logged with `failure` % (chat, error)."""
    sent = held.send(telegram)
    if not sent.sent:
        log.warning(failure, held.chat_id, sent.error)
