"""keyturn.core.audit: the filter's checks and the cursor's refusals, without a database."""

from __future__ import annotations

import math

import pytest

from keyturn.core.audit import AuditFilter, Position, decode_cursor, encode_cursor
from keyturn.core.errors import ApiError


@pytest.mark.parametrize("kwargs", [
    {"since": math.nan}, {"until": math.inf}, {"since": 2.0, "until": 1.0}, {"kinds": ("",)},
    {"kinds": ("a\nb",)}, {"kinds": ("k" * 61,)}, {"actor": ""}, {"client_id": "c\x00"},
])
def test_a_filter_refuses_what_no_event_can_match(kwargs: dict[str, object]) -> None:
    with pytest.raises(ApiError) as caught:
        AuditFilter(**kwargs)  # type: ignore[arg-type]
    assert (caught.value.status_code, caught.value.code) == (400, "INVALID_REQUEST")


def test_an_empty_window_is_allowed() -> None:
    assert AuditFilter(since=5.0, until=5.0).until == 5.0


@pytest.mark.parametrize("cursor", ["x" * 201, "!!!", encode_cursor(Position(1.0, 1))[:-2], "MjphYzox",
                                    "MTphc2M6MS4wOm9uZQ", "MTp1cDoxLjA6MQ"])
def test_a_cursor_not_ours_is_invalid_cursor(cursor: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_cursor(cursor)
    assert (caught.value.status_code, caught.value.code) == (400, "INVALID_CURSOR")
