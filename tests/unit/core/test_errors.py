"""core/errors.py: each OAuthError is one RFC 6749 error code with its status, its body the §5.2 JSON."""

from __future__ import annotations

import pytest

from keyturn.core.errors import (
    AccessDenied,
    InsufficientScope,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    OAuthError,
    ServerError,
    TemporarilyUnavailable,
    TooManyRequests,
    forbidden,
    not_found,
)


def test_error_description_is_optional_and_absent_when_not_given():
    """RFC 6749 §5.2: ``error`` is REQUIRED, ``error_description`` OPTIONAL: no empty member is sent."""
    assert InvalidGrant().as_dict() == {"error": "invalid_grant"}
    assert InvalidGrant("").as_dict() == {"error": "invalid_grant"}
    assert InvalidGrant("code was used").as_dict() == {"error": "invalid_grant", "error_description": "code was used"}
    assert str(InvalidGrant()) == "invalid_grant"


def test_the_private_detail_never_reaches_the_body():
    exc = InvalidClient("client authentication failed", detail="bad secret for client 42")
    assert exc.as_dict() == {"error": "invalid_client", "error_description": "client authentication failed"}
    assert "42" not in repr(exc.as_dict())


@pytest.mark.parametrize(("exc", "code", "status"), [
    (InvalidRequest(), "invalid_request", 400),
    (InvalidClient(), "invalid_client", 401),  # RFC 6749 §5.2
    (AccessDenied(), "access_denied", 403),
    (TooManyRequests(retry_after=3), "invalid_request", 429),  # no RFC 6749 code for rate limiting (§8 D5)
    (ServerError(), "server_error", 500),
    (TemporarilyUnavailable(), "temporarily_unavailable", 503),
])
def test_one_code_and_status_per_class(exc: OAuthError, code: str, status: int):
    assert (exc.error, exc.status_code) == (code, status)


def test_too_many_requests_carries_its_retry_after():
    assert TooManyRequests("slow down", retry_after=7).retry_after == 7


def test_insufficient_scope_names_the_scope():
    """RFC 6750 §3.1: the challenge's ``scope`` is the scope the request needs."""
    exc = InsufficientScope("payments:write")
    assert exc.scope == "payments:write" and "payments:write" in exc.description
    assert InsufficientScope("a", "custom").description == "custom"


def test_management_helpers():
    assert (not_found("account").status_code, not_found("account").code) == (404, "NOT_FOUND")
    denied = forbidden("accounts:update")
    assert (denied.status_code, denied.code, denied.message) == (403, "PERMISSION_DENIED",
                                                                 "missing permission accounts:update")
