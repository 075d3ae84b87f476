"""Request signing between the CRM and notify: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The MAC covers "<t>.<raw body>" with NOTIFY_SIGNING_SECRET, so neither the body nor the time can be
changed, and a captured request stops working after TOLERANCE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

HEADER = "X-Signature"
TOLERANCE = dt.timedelta(minutes=5)
_MAX_HEADER_LENGTH = 1024


class SignatureError(Exception):
    """The request is not signed with our secret, or not recently: answer 401."""


def sign(raw_body: bytes, secret: str, timestamp: int) -> str:
    """The X-Signature header value for this body at this unix time (what the CRM computes)."""
    return f"t={timestamp},v1={_mac(raw_body, secret, str(timestamp))}"


def verify_signature(
    header: str | None, raw_body: bytes, secret: str, now: dt.datetime, tolerance: dt.timedelta = TOLERANCE
) -> None:
    """Raise SignatureError unless `header` signs `raw_body` with `secret` within `tolerance` of `now`.

    Several `v1=` entries are allowed (one per secret while the CRM rotates); one must match. Digests
    are compared in constant time.
    """
    if not header:
        raise SignatureError(f"{HEADER} header is missing")
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureError(f"{HEADER} header is too long")
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value.lower())
    if timestamp is None or not _is_unix_seconds(timestamp) or not candidates:
        raise SignatureError(f"{HEADER} header is malformed: expected 't=<unix seconds>,v1=<hex HMAC-SHA256>'")
    # Whole unix seconds compared as integers: any t that passes the check above is a number, however far off.
    if abs(int(now.timestamp()) - int(timestamp)) > int(tolerance.total_seconds()):
        raise SignatureError(
            f"{HEADER} timestamp is more than {int(tolerance.total_seconds())} s away from the server's time"
            " (check the CRM's clock, and sign each request when it is sent)"
        )
    expected = _mac(raw_body, secret, timestamp).encode()
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode(), expected)
    if not matched:
        raise SignatureError(f"{HEADER} does not match the body: sign '<t>.<raw body>' with NOTIFY_SIGNING_SECRET")


def _is_unix_seconds(value: str) -> bool:
    return 1 <= len(value) <= 12 and value.isascii() and value.isdigit()


def _mac(raw_body: bytes, secret: str, timestamp: str) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
