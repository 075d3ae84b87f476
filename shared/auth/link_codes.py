"""Deep-link codes behind the CRM website's "Link Telegram" button: issue one, redeem it once."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from google.cloud import firestore

from shared import clock
from shared.auth import linking
from shared.bot import texts
from shared.bot.conversation import Conversation
from shared.crm.users import CrmUser, get_crm_user
from shared.store import audit
from shared.store.db import new_transaction
from shared.store.link_codes import CODE_LIFETIME, LinkCode, code_ref, read_code, save_code
from shared.store.links import Link

CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CODE_BYTES = 24  # 32 base64url characters, within /start's 64-character payload limit


@dataclass(frozen=True)
class IssuedCode:
    code: str
    deep_link: str
    expires_at: dt.datetime


class LinkCodeError(ValueError):
    """The CRM user cannot get a link code (missing or inactive)."""


def issue_link_code(user: CrmUser, bot_username: str) -> IssuedCode:
    """A fresh one-time code for `user` and the t.me deep link that carries it."""
    if not user.is_active:
        raise LinkCodeError(f"CRM user {user.id} is not active")
    code = secrets.token_urlsafe(CODE_BYTES)
    now = clock.now()
    save_code(code, LinkCode(crm_user_id=user.id, created_at=now, expires_at=now + CODE_LIFETIME))
    audit.record("link_code_issued", crm_user_id=user.id)
    return IssuedCode(code, f"https://t.me/{bot_username}?start={code}", now + CODE_LIFETIME)


def redeem_link_code(conversation: Conversation, code: str) -> None:
    """Link the chat's Telegram user with the code's CRM user, once; anything else changes nothing."""
    if conversation.session is not None:
        _refuse_while_linked(conversation, conversation.session.link, code)
        return
    link = _redeem(new_transaction(), conversation, code) if CODE_PATTERN.match(code) else None
    if link is None:
        _reject(conversation)
        return
    linking.after_link(conversation, link)


def _refuse_while_linked(conversation: Conversation, link: Link, code: str) -> None:
    """A linked user keeps their link, and a valid code stays unused, so its owner can still redeem it."""
    stored = read_code(code) if CODE_PATTERN.match(code) else None
    if stored is None or not stored.usable(clock.now()):
        _reject(conversation)  # logging out first would not help
        return
    audit.record(
        "link_code_refused",
        telegram_user_id=conversation.user.id,
        crm_user_id=link.crm_user_id,
        reason="already_linked",
        code_crm_user_id=stored.crm_user_id,
    )
    if stored.crm_user_id == link.crm_user_id:
        conversation.say(texts.ALREADY_LINKED_SAME)
    else:
        conversation.say(texts.code_refused_while_linked(link.name, link.email))


def _reject(conversation: Conversation) -> None:
    audit.record("link_code_rejected", telegram_user_id=conversation.user.id)
    conversation.say(texts.CODE_INVALID)


@firestore.transactional
def _redeem(transaction: firestore.Transaction, conversation: Conversation, code: str) -> Link | None:
    now = clock.now()
    stored = read_code(code, transaction)
    if stored is None or not stored.usable(now):
        return None
    user = get_crm_user(stored.crm_user_id, transaction)
    if user is None or not user.is_active:
        return None
    link = linking.link_in_transaction(transaction, conversation, user, method="link_code")
    transaction.update(code_ref(code), {"used_at": now, "used_by_telegram_user_id": conversation.user.id})
    audit.record("link_code_used", telegram_user_id=conversation.user.id, crm_user_id=user.id, transaction=transaction)
    return link
