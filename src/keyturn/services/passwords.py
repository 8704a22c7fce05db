"""Password hashing with argon2id (argon2-cffi), verified exactly as typed."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
MIN_LENGTH = 8
MAX_LENGTH = 256
COMMON = frozenset({
    "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwertyui",
    "qwerty123", "iloveyou", "11111111", "00000000", "abc12345", "letmein1", "welcome1", "admin123",
    "passw0rd", "p@ssw0rd", "sunshine", "football", "baseball", "princess", "trustno1",
})


@functools.cache
def _dummy_hash() -> str:
    """What an unknown user's password is verified against (the same argon2 work); made once, on first use."""
    return _hasher.hash("keyturn-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (pass None for an unknown user)."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str) -> None:
    """ASVS 6.2: at least 8 characters, long ones allowed, no composition rules, not a common one."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"password must be at most {MAX_LENGTH} characters")
    if password.lower() in COMMON:
        raise ValueError("password is too common")
