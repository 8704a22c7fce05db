"""core/durations.py: a credential's ``refresh`` (seed 000's ``"1d"``) is stored in one normal form."""

from __future__ import annotations

import pytest

from keyturn.core.durations import normalise_duration, parse_duration


def test_no_duration_means_no_refresh_tokens():
    """RFC 6749 §4.4.3: a credential may get no refresh token; ``None`` and the none-words say so."""
    assert parse_duration(None) is None
    for none in (None, "none", " NULL ", "off", "0"):
        assert normalise_duration(none) is None, none


def test_a_duration_is_kept_trimmed_and_lower_case():
    assert normalise_duration(" 1D ") == "1d"
    assert normalise_duration("12h") == "12h"
    assert parse_duration(normalise_duration(" 2W ")) == 2 * 604800


def test_normalising_refuses_what_parsing_refuses():
    with pytest.raises(ValueError, match="at most one year"):
        normalise_duration("367d")
