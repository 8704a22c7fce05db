"""services/passwords.py: ASVS 6.2 — 8 to 256 characters, no composition rules, not a common password; verified
as typed, with the same work for an unknown user."""

from __future__ import annotations

import pytest

from keyturn.services.passwords import check_password_policy, hash_password, verify_password


@pytest.mark.parametrize(("password", "why"), [
    ("short", "at least 8"),
    ("x" * 257, "at most 256"),
    ("Password123", "too common"),
    ("P@SSW0RD", "too common"),
])
def test_refused_passwords(password: str, why: str):
    with pytest.raises(ValueError, match=why):
        check_password_policy(password)


@pytest.mark.parametrize("password", ["12345678a", "x" * 256, "correct horse battery staple", "ünïcödé-pass"])
def test_no_composition_rules(password: str):
    check_password_policy(password)


def test_verified_exactly_as_typed():
    stored = hash_password("Correct Horse 1")
    assert verify_password(stored, "Correct Horse 1")
    assert not verify_password(stored, "correct horse 1") and not verify_password(stored, "Correct Horse 1 ")
    assert not verify_password("not-an-argon2-hash", "Correct Horse 1")
    assert not verify_password(None, "keyturn-dummy-password-for-timing")  # an unknown user never signs in
