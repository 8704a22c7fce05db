"""web/auth.py: ``X-Keyturn-Account`` selects the account a user acts on; credentials stay on their own."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from starlette.requests import Request

from keyturn.core.errors import ApiError, InvalidToken
from keyturn.core.models import Principal
from keyturn.services.context import Services
from keyturn.settings import Settings
from keyturn.web.auth import authenticate, bearer_value, select_account

USER = Principal(kind="user", id="u1")
CTX = cast(Services, SimpleNamespace(settings=Settings(environment="development")))
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
        await authenticate(CTX, request)  # never reaches a credential check
    assert (err.value.status_code, err.value.code) == (400, "INVALID_REQUEST")


@pytest.mark.parametrize("header", ["", "Bearer ", "Bearer a b", "Basic x y"])
def test_a_malformed_authorization_header_is_invalid_token(header):
    with pytest.raises(InvalidToken, match="malformed"):
        bearer_value(header)


def _request(*headers: tuple[bytes, bytes]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/api/accounts", "query_string": b"",
                    "headers": [*headers, (b"authorization", b"Bearer t")]})


async def test_a_configured_account_header_is_the_only_one_read():
    """KEYTURN_ACCOUNT_HEADER=X-Centrapay-Account: the default header is refused (never silently ignored)."""
    ctx = cast(Services, SimpleNamespace(settings=Settings(environment="development",
                                                           account_header="X-Centrapay-Account")))
    with pytest.raises(ApiError) as err:
        await authenticate(ctx, _request((b"x-keyturn-account", b"acc-1")))
    assert (err.value.status_code, err.value.code) == (400, "INVALID_REQUEST")
    assert "X-Centrapay-Account" in err.value.message
    with pytest.raises(ApiError) as err:
        await authenticate(ctx, _request((b"x-centrapay-account", b"a"), (b"x-centrapay-account", b"b")))
    assert err.value.message == "X-Centrapay-Account is sent more than once"


@pytest.mark.parametrize("name", ["", "X Account", "X-Account:", "Ünicode", "a" * 65, "Authorization", "x-api-key",
                                  "X-Keyturn-Permission", "Access-Control-Request-Headers", "Sec-Fetch-Site",
                                  "Proxy-Foo", "Host", "X-Forwarded-For"])
def test_the_account_header_setting_must_be_a_free_legal_header_name(name):
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="account_header"):
        Settings(environment="development", account_header=name)


def test_the_account_header_setting_keeps_its_spelling():
    assert Settings(environment="development", account_header=" X-Centrapay-Account ").account_header == \
        "X-Centrapay-Account"
    assert Settings(environment="development").account_header == "X-Keyturn-Account"
