"""How people type the identifiers they sign in with: email addresses and phone numbers.

One normal form per identifier, used when a user is created, when one is looked up and when
failed logins are counted, so that two spellings of the same identifier are one account and
one throttle counter:

- Email: NFKC (Unicode UAX #15), then surrounding white space stripped, then lower-cased
  (NFKC once more, so the form is a fixed point). A full-width ``ｄｅｍｏ@keyturn.test`` is
  ``demo@keyturn.test``: it can neither register beside it nor be a different login.
- Username (``preferred_username``): NFKC, stripped, lower-cased, and then only ``a-z 0-9 . _ -``
  (starting with a letter or digit): no ``@`` or leading ``+``, so a username can never read as someone's
  email or phone number, and no invisible or look-alike characters.
- An email may not contain invisible characters (zero-width joiners and spaces, other format or
  control characters, white space), and its domain is labels of letters, digits and hyphens joined by
  ASCII dots, without a trailing dot (``demo@keyturn。test`` or ``demo@keyturn.test.`` are refused).
- Phone: what a person types (``+44 7700 900123``, ``07700 900123`` with the default region
  ``GB``) is parsed with ``phonenumbers`` and written in E.164 (``+447700900123``) when it has a
  possible length for its region. Without a default region only numbers typed with a leading
  ``+`` are read as phone numbers. A number outside the numbering plan that is already written
  in E.164 digits (``+6421234567890``, seed 001's sample) keeps that form.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

E164_RE = re.compile(r"\+[1-9][0-9]{6,15}")  # ITU-T E.164: at most 15 digits (one more tolerated, as before)
# What may appear in a phone number as typed: digits and the usual separators (after NFKC).
_TYPED_PHONE_RE = re.compile(r"\+?[0-9 ()./\-]{4,40}")
_SEPARATORS = re.compile(r"[ ()./\-]")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def normalise_email(text: str) -> str:
    return nfkc(nfkc(text).strip().lower())


USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def normalise_username(text: str) -> str:
    return nfkc(nfkc(text).strip().lower())


def username_problem(username: str) -> str | None:
    """None for a username in normal form that may be registered, else why not."""
    if not USERNAME_RE.fullmatch(username):
        return "username must be 1-100 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
    return None


def email_problem(email: str) -> str | None:
    """None for an email in normal form that may be registered, else why not (look-alikes refused)."""
    if any(unicodedata.category(c) in _INVISIBLE for c in email):
        return "email must not contain invisible, control or space characters"
    local, _, domain = email.rpartition("@")
    labels = domain.split(".")
    if not local or len(labels) < 2 or not all(
            label and not label.startswith("-") and not label.endswith("-")
            and all(c == "-" or unicodedata.category(c)[0] in "LN" for c in label) for label in labels):
        return "email domain must be labels of letters, digits and hyphens joined by dots"
    return None


def is_region(code: str) -> bool:
    return code in phonenumbers.SUPPORTED_REGIONS


def phone_e164(text: str, region: str | None) -> str | None:
    """The E.164 form of a phone number as typed, or None if ``text`` is not read as one."""
    typed = nfkc(text).strip()
    if not _TYPED_PHONE_RE.fullmatch(typed):
        return None
    if not typed.startswith("+") and region is None:
        return None
    try:
        number = phonenumbers.parse(typed, None if typed.startswith("+") else region)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and (phonenumbers.is_possible_number_with_reason(number)
                               == phonenumbers.ValidationResult.IS_POSSIBLE):
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    compact = _SEPARATORS.sub("", typed)
    return compact if E164_RE.fullmatch(compact) else None


def login_key(identifier: str, region: str | None) -> str:
    """The one form of a login identifier that throttling counts by (email, phone or username)."""
    return phone_e164(identifier, region) or normalise_email(identifier)
