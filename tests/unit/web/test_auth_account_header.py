"""web/auth.py: ``X-Keyturn-Account`` selects the account a user acts on; credentials stay on their own."""

from __future__ import annotations

from typing import cast

import pytest
from starlette.requests import Request

from keyturn.core.errors import ApiError, InvalidToken
from keyturn.core.models import Principal
from keyturn.services.context import Services
from keyturn.web.auth import authenticate, bearer_value, select_account

USER = Principal(kind="user", id="u1")
KEY = Principal(kind="api_key", id="k1", account_id="acc-1", role="merchant-terminal")


def test_a_user_selects_any_account_membership_is_decided_later():
    assert select_account(USER, None) is USER
    assert select_account(USER, " acc-2 ").account_id == "acc-2"


@pytest.mark.parametrize("value", ["", "   ", "a" * 65])
def test_a_malformed_account_header_is_invalid_request(value):
    with pytest.raises(ApiError) as err:
        select_account(USER, value)
    assert (err.value.status_code, err.value.code) == (400, "INVALID_REQUEST")


def test_a_key_or_credential_cannot_name_another_account():
    assert select_account(KEY, "acc-1") is KEY
    with pytest.raises(ApiError) as err:
        select_account(KEY, "acc-2")
    assert (err.value.status_code, err.value.code) == (400, "ACCOUNT_MISMATCH")


async def test_the_account_header_sent_twice_is_refused_before_any_credential_is_read():
    request = Request({"type": "http", "method": "GET", "path": "/api/accounts", "query_string": b"",
                       "headers": [(b"x-keyturn-account", b"acc-1"), (b"x-keyturn-account", b"acc-2"),
                                   (b"authorization", b"Bearer t")]})
    with pytest.raises(ApiError) as err:
        await authenticate(cast(Services, None), request)  # never reaches the services
    assert (err.value.status_code, err.value.code) == (400, "INVALID_REQUEST")


@pytest.mark.parametrize("header", ["", "Bearer ", "Bearer a b", "Basic x y"])
def test_a_malformed_authorization_header_is_invalid_token(header):
    with pytest.raises(InvalidToken, match="malformed"):
        bearer_value(header)
