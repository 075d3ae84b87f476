"""Deep-link codes behind the CRM website's "Link Telegram" button: issue one, redeem it once."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from shared import clock
from shared.auth.linking import TelegramAccount, link_in_transaction
from shared.crm.backend import get_crm
from shared.crm.users import CrmUser
from shared.store import audit, documents
from shared.store.documents import Transaction
from shared.store.link_codes import CODE_LIFETIME, LinkCode, mark_used, read_code, save_code
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


class RefusalWhileLinked(StrEnum):
    """Why a linked user's code changed nothing."""

    INVALID = "invalid"
    """Unknown, used or expired: logging out first would not help."""
    SAME_ACCOUNT = "same_account"
    OTHER_ACCOUNT = "other_account"


def issue_link_code(user: CrmUser, bot_username: str) -> IssuedCode:
    """A fresh one-time code for `user` and the t.me deep link that carries it."""
    if not user.is_active:
        raise LinkCodeError(f"CRM user {user.id} is not active")
    code = secrets.token_urlsafe(CODE_BYTES)
    now = clock.now()
    save_code(code, LinkCode(crm_user_id=user.id, created_at=now, expires_at=now + CODE_LIFETIME))
    audit.record("link_code_issued", crm_user_id=user.id)
    return IssuedCode(code, f"https://t.me/{bot_username}?start={code}", now + CODE_LIFETIME)


def redeem(account: TelegramAccount, code: str) -> Link | None:
    """Link the account with the code's CRM user, once; None (audited) when the code links no one."""
    link = None
    stored = read_code(code) if CODE_PATTERN.match(code) else None
    if stored is not None and stored.usable(clock.now()):
        # The CRM user is read before the transaction (the CRM may be a web API); the transaction then holds the
        # code to the same user, so a code is redeemed once, for the account it was issued to.
        user = get_crm().get_user(stored.crm_user_id)
        if user is not None and user.is_active:
            link = documents.in_transaction(_redeem, account, code, user)
    if link is None:
        audit.record("link_code_rejected", telegram_user_id=account.user_id)
    return link


def refuse_while_linked(telegram_user_id: int, link: Link, code: str) -> RefusalWhileLinked:
    """A linked user keeps their link, and a valid code stays unused, so its owner can still redeem it."""
    stored = read_code(code) if CODE_PATTERN.match(code) else None
    if stored is None or not stored.usable(clock.now()):
        audit.record("link_code_rejected", telegram_user_id=telegram_user_id)
        return RefusalWhileLinked.INVALID
    audit.record(
        "link_code_refused",
        telegram_user_id=telegram_user_id,
        crm_user_id=link.crm_user_id,
        reason="already_linked",
        code_crm_user_id=stored.crm_user_id,
    )
    if stored.crm_user_id == link.crm_user_id:
        return RefusalWhileLinked.SAME_ACCOUNT
    return RefusalWhileLinked.OTHER_ACCOUNT


def _redeem(transaction: Transaction, account: TelegramAccount, code: str, user: CrmUser) -> Link | None:
    now = clock.now()
    stored = read_code(code, transaction)
    if stored is None or not stored.usable(now) or stored.crm_user_id != user.id:
        return None
    link = link_in_transaction(transaction, account, user, method="link_code")
    mark_used(code, account.user_id, now, transaction)
    audit.record("link_code_used", telegram_user_id=account.user_id, crm_user_id=user.id, writes=transaction)
    return link
