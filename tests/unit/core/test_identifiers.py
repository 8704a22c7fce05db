"""core/identifiers.py: one normal form per sign-in identifier (email, username, phone)."""

from __future__ import annotations

import pytest

from keyturn.core.identifiers import (
    email_problem,
    login_key,
    normalise_email,
    normalise_username,
    phone_e164,
    username_problem,
)


def test_a_full_width_email_is_the_same_account():
    assert normalise_email(" ＤＥＭＯ@keyturn.test ") == "demo@keyturn.test"


@pytest.mark.parametrize("email", ["demo\u200b@keyturn.test", "de mo@keyturn.test", "demo@keyturn。test",
                                   "demo@keyturn.test.", "demo@-keyturn.test", "@keyturn.test", "demo@localhost"])
def test_look_alike_and_malformed_emails_are_refused(email):
    assert email_problem(email) is not None


def test_usernames_cannot_read_as_an_email_or_a_phone_number():
    assert normalise_username(" Ａlice ") == "alice" and username_problem("alice") is None
    for bad in ("al@ice", "+447700900123", "-alice", "", "a" * 101):
        assert username_problem(bad) is not None, bad


def test_a_national_number_needs_a_default_region():
    assert phone_e164("07700 900123", "GB") == "+447700900123"
    assert phone_e164("07700 900123", None) is None


def test_e164_digits_outside_the_numbering_plan_keep_their_form():
    """Seed 001's sample number is not in any plan; a number phonenumbers cannot even parse (country code
    999 does not exist) but written in E.164 digits is still that number, with its separators removed."""
    assert phone_e164("+6421234567890", None) == "+6421234567890"
    assert phone_e164("+999 123 4567", None) == "+9991234567"


@pytest.mark.parametrize("typed", ["(((())))", "----", "+1 (((", "+0 12", "demo@keyturn.test", "12"])
def test_what_is_not_a_phone_number_is_none(typed):
    assert phone_e164(typed, "GB") is None


def test_login_key_counts_two_spellings_as_one():
    assert login_key("+44 7700 900123", None) == login_key("+447700900123", None) == "+447700900123"
    assert login_key("Demo@Keyturn.test", None) == login_key("demo@keyturn.test ", None)
