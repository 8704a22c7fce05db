"""web/errors.py: a private ``detail`` is logged and never answered; a dependency failure is a fast 5xx in the
protocol's shape (F03), logged as an error."""

from __future__ import annotations

import logging

import pytest
from starlette.requests import Request

from keyturn.core.errors import ApiError, InvalidClient, TemporarilyUnavailable, TooManyRequests
from keyturn.web.errors import error_response


def _request(path: str = "/token") -> Request:
    return Request({"type": "http", "method": "POST", "path": path, "query_string": b"", "headers": [],
                    "scheme": "https", "server": ("keyturn.test", 443)})


async def test_a_dependency_failure_is_503_temporarily_unavailable_logged_as_an_error(caplog: pytest.LogCaptureFixture):
    exc = TemporarilyUnavailable("the database is unavailable", detail="connection refused by 10.0.0.5:5432")
    with caplog.at_level(logging.INFO, logger="keyturn.errors"):
        response = await error_response(_request(), exc)
    assert response.status_code == 503
    assert response.body == b'{"error":"temporarily_unavailable","error_description":"the database is unavailable"}'
    assert response.headers["cache-control"] == "no-store"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "10.0.0.5:5432" in errors[0].getMessage()


async def test_a_client_refusal_is_logged_at_info_with_its_detail_only_in_the_log(caplog: pytest.LogCaptureFixture):
    exc = InvalidClient("client authentication failed", detail="bad secret or client disabled")
    with caplog.at_level(logging.INFO, logger="keyturn.errors"):
        response = await error_response(_request(), exc)
    assert response.status_code == 401 and b"disabled" not in response.body
    assert response.headers["www-authenticate"] == 'Basic realm="keyturn", error="invalid_client"'  # RFC 6749 §5.2
    assert [r.levelno for r in caplog.records] == [logging.INFO] and "disabled" in caplog.text


async def test_rate_limited_token_requests_say_when_to_retry():
    """§8 D5: 429 with Retry-After, the body invalid_request (RFC 6749 has no code for it)."""
    response = await error_response(_request(), TooManyRequests("too many failed client authentications",
                                                                retry_after=12))
    assert response.status_code == 429 and response.headers["retry-after"] == "12"
    assert bytes(response.body).startswith(b'{"error":"invalid_request"')


async def test_a_management_errors_detail_stays_in_the_log(caplog: pytest.LogCaptureFixture):
    exc = ApiError(409, "CONFLICT", "a user with this email exists", detail="unique constraint users_email_key")
    with caplog.at_level(logging.INFO, logger="keyturn.errors"):
        response = await error_response(_request("/api/accounts"), exc)
    assert response.status_code == 409 and b"users_email_key" not in response.body
    assert "users_email_key" in caplog.text
