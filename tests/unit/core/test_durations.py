"""Durations as operators write them (``1d``, ``12h``, ``none``)."""

from __future__ import annotations

import pytest

from keyturn.core.durations import parse_duration


def test_durations():
    assert parse_duration("1d") == 86400 and parse_duration("12h") == 43200 and parse_duration("none") is None
    for bad in ("1y", "d", "-1d", "1000w", "１d"):
        with pytest.raises(ValueError):
            parse_duration(bad)
