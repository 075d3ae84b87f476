"""Verify passwords against the CRM's hashes: Django pbkdf2_sha256 and bcrypt ($2a$, $2b$, $2y$)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from types import TracebackType

import bcrypt

log = logging.getLogger(__name__)

DJANGO_PBKDF2 = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000
MAX_ITERATIONS = 10_000_000
BCRYPT_MAX_BYTES = 72  # bcrypt ignores what follows; other implementations truncate silently, bcrypt 5 raises


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS) -> str:
    """A Django-format pbkdf2_sha256 hash (for demo data and tests; the CRM writes its own)."""
    salt = secrets.token_urlsafe(16).replace("$", "")
    digest = hashlib.pbkdf2_hmac("sha256", _utf8(password), salt.encode(), iterations)
    return f"{DJANGO_PBKDF2}${iterations}${salt}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str | None) -> bool:
    """True when the password matches the stored hash; no hash is False, an unknown or broken one also a warning.

    How long this takes depends on the hash: a login checks passwords through PasswordCheck, which hides that.
    """
    if not encoded:
        return False
    if encoded.startswith(DJANGO_PBKDF2 + "$"):
        return _verify_django_pbkdf2(password, encoded)
    if encoded.startswith(("$2a$", "$2b$", "$2y$")):
        return _verify_bcrypt(password, encoded)
    log.warning("password hash in an unknown format (prefix %r): login refused", encoded.split("$", 1)[0][:20])
    return False


class PasswordCheck:
    """A login's password check that lasts `floor_seconds` from start to end, whatever it checked.

    Known or unknown email, active or not, bcrypt or PBKDF2 of any cost, broken hash: each answer takes the same
    time, so the time tells nothing about which emails are registered. Use it as a context manager around the
    work; it sleeps out the rest of the floor on the way out.
    """

    def __init__(
        self,
        floor_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.floor_seconds = floor_seconds
        self._monotonic, self._sleep = monotonic, sleep
        self._started = monotonic()

    def verify(self, password: str, encoded: str | None) -> bool:
        """verify_password, with a warning when the hash alone takes longer than the floor (the time then leaks)."""
        started = self._monotonic()
        matches = verify_password(password, encoded)
        took = self._monotonic() - started
        if took > self.floor_seconds:
            log.warning(
                "checking a password hash took %.2f s, longer than PASSWORD_CHECK_SECONDS (%.2f s), so login times "
                "can tell registered emails from unknown ones: raise PASSWORD_CHECK_SECONDS above the slowest check",
                took,
                self.floor_seconds,
            )
        return matches

    def __enter__(self) -> PasswordCheck:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        remaining = self._started + self.floor_seconds - self._monotonic()
        if remaining > 0:
            self._sleep(remaining)


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
