"""Verify passwords against the CRM's hashes: Django pbkdf2_sha256 and bcrypt ($2a$, $2b$, $2y$)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets

import bcrypt

log = logging.getLogger(__name__)

DJANGO_PBKDF2 = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000
MAX_ITERATIONS = 10_000_000
BCRYPT_MAX_BYTES = 72  # bcrypt ignores what follows; other implementations truncate silently, bcrypt 5 raises

# Checked when the email is unknown, so an unknown email costs as much time as a known one.
_DUMMY_HASH = f"{DJANGO_PBKDF2}${DEFAULT_ITERATIONS}$dummysalt$" + base64.b64encode(b"\0" * 32).decode()


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS) -> str:
    """A Django-format pbkdf2_sha256 hash (for demo data and tests; the CRM writes its own)."""
    salt = secrets.token_urlsafe(16).replace("$", "")
    digest = hashlib.pbkdf2_hmac("sha256", _utf8(password), salt.encode(), iterations)
    return f"{DJANGO_PBKDF2}${iterations}${salt}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str | None) -> bool:
    """True when the password matches the stored hash; an unknown or broken format is False and a warning."""
    if not encoded:
        spend_equal_time(password)
        return False
    if encoded.startswith(DJANGO_PBKDF2 + "$"):
        return _verify_django_pbkdf2(password, encoded)
    if encoded.startswith(("$2a$", "$2b$", "$2y$")):
        return _verify_bcrypt(password, encoded)
    log.warning("password hash in an unknown format (prefix %r): login refused", encoded.split("$", 1)[0][:20])
    return False


def spend_equal_time(password: str) -> None:
    """Do the work of one verification, for a login whose email matched no account."""
    _verify_django_pbkdf2(password, _DUMMY_HASH)


def _verify_django_pbkdf2(password: str, encoded: str) -> bool:
    try:
        _, iterations_text, salt, expected_b64 = encoded.split("$", 3)
        iterations = int(iterations_text)
        expected = base64.b64decode(expected_b64, validate=True)
    except ValueError:
        log.warning("malformed pbkdf2_sha256 hash: login refused")
        return False
    if not 0 < iterations <= MAX_ITERATIONS:
        log.warning("pbkdf2_sha256 hash with %d iterations: login refused", iterations)
        return False
    actual = hashlib.pbkdf2_hmac("sha256", _utf8(password), salt.encode(), iterations, dklen=len(expected) or None)
    return hmac.compare_digest(actual, expected)


def _verify_bcrypt(password: str, encoded: str) -> bool:
    candidate = _utf8(password)[:BCRYPT_MAX_BYTES]
    stored = ("$2b$" + encoded[4:]).encode()
    try:
        return bcrypt.checkpw(candidate, stored)
    except ValueError:
        log.warning("malformed bcrypt hash: login refused")
        return False


def _utf8(password: str) -> bytes:
    """The password's UTF-8 bytes; a lone surrogate (possible in JSON) cannot match, but must not crash."""
    return password.encode("utf-8", "surrogatepass")
