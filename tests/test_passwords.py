"""Password hashes in the CRM's formats, verified in constant time; anything else fails closed."""

from __future__ import annotations

import logging

import bcrypt
import pytest

from shared.auth.passwords import PasswordCheck, hash_password, verify_password
from tests.harness import VirtualClock


def test_django_pbkdf2_round_trip() -> None:
    encoded = hash_password("correct horse", iterations=1000)
    assert encoded.startswith("pbkdf2_sha256$1000$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_variants(prefix: str) -> None:
    encoded = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode().replace("$2b$", prefix, 1)
    assert verify_password("s3cret", encoded)
    assert not verify_password("s3cret!", encoded)


def test_bcrypt_counts_only_the_first_72_bytes_like_every_implementation() -> None:
    long_password = "x" * 80
    encoded = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    assert verify_password(long_password, encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plaintext",
        "argon2$argon2id$v=19$m=102400,t=2,p=8$abc$def",
        "pbkdf2_sha256$notanumber$salt$abc=",
        "pbkdf2_sha256$0$salt$abc=",
        "pbkdf2_sha256$99999999999$salt$abc=",
        "pbkdf2_sha256$1000$salt$not base64!",
        "pbkdf2_sha256$1000",
        "$2b$04$tooshort",
        "$2y$",
    ],
)
def test_unknown_or_broken_hashes_fail_closed_with_a_warning(encoded: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert not verify_password("anything", encoded)
    assert "anything" not in caplog.text, "the password never reaches the logs"


@pytest.mark.parametrize(
    "encoded",
    [None, "", "argon2$argon2id$v=19$m=102400,t=2,p=8$abc$def", hash_password("pw", 1000)],
    ids=["unknown email", "empty hash", "unknown format", "pbkdf2"],
)
def test_a_password_check_lasts_its_floor_whatever_it_checked(encoded: str | None) -> None:
    clock = VirtualClock()
    with PasswordCheck(1.5, monotonic=clock.monotonic, sleep=clock.sleep) as check:
        check.verify("pw", encoded)
    assert clock.now == pytest.approx(1.5)


def test_a_hash_slower_than_the_floor_is_a_warning_naming_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    encoded = hash_password("s3cret", 100_000)
    with caplog.at_level(logging.WARNING), PasswordCheck(0.001) as check:
        assert check.verify("s3cret", encoded)
    assert "raise PASSWORD_CHECK_SECONDS" in caplog.text
    assert "s3cret" not in caplog.text
