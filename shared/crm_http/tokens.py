"""The bearer token of every request to the CRM (docs/crm-connector.md, "The token")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ISSUER = "crm-telegram-bot"
TOKEN_SECONDS = 60
"""How long a token lives: the contract allows at most 60 s."""


@dataclass(frozen=True)
class Principal:
    """Whom a request acts for: a CRM user (sub, role, org_id) or the bot itself."""

    sub: str
    role: str | None = None
    org_id: str | None = None


BOT = Principal("bot")
"""The bot's own lookups: login, users by email, notify's recipient, the session read."""


def sign_token(secret: str, audience: str, principal: Principal, now: float) -> str:
    """An HS256 JWT for one request to `audience` (the CRM's base URL) on behalf of `principal`, issued at `now`."""
    issued_at = int(now)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": audience,
        "sub": principal.sub,
        "iat": issued_at,
        "exp": issued_at + TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    if principal.role is not None:
        claims["role"] = principal.role
    if principal.org_id is not None:
        claims["org_id"] = principal.org_id
    return jwt.encode(claims, secret, algorithm="HS256")
