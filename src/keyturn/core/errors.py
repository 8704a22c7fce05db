"""The error tree. Each ``OAuthError`` subclass is exactly one RFC error code.

    KeyturnError                 base of everything we raise on purpose
    ├── OAuthError               RFC 6749 §5.2 / §4.1.2.1 errors, rendered as JSON or a redirect
    │   ├── InvalidRequest       malformed or repeated parameter, bad content type (400)
    │   ├── InvalidClient        client authentication failed (401, WWW-Authenticate)
    │   ├── InvalidGrant         code / refresh token invalid, expired, used or not the client's (400)
    │   ├── UnauthorizedClient   client may not use this grant type (400)
    │   ├── UnsupportedGrantType grant type unknown or disabled (400)
    │   ├── InvalidScope         scope malformed or beyond what is allowed (400)
    │   ├── UnsupportedTokenType RFC 7009 §2.2.1 (400)
    │   ├── AccessDenied         resource owner or policy refused (authorization endpoint)
    │   ├── UnsupportedResponseType, LoginRequired, ConsentRequired, InteractionRequired
    │   ├── RequestNotSupported, RequestUriNotSupported  OIDC Core §3.1.2.6 (authorization endpoint)
    │   ├── InvalidClientMetadata, InvalidRedirectUri  RFC 7591 §3.2.2 (client registration, 400)
    │   ├── TooManyRequests      rate limited: 429 + Retry-After, answered as invalid_request
    │   ├── ServerError          unexpected failure (500), never with details
    │   └── TemporarilyUnavailable  dependency down (503)
    ├── InvalidBearerRequest     a request to a protected resource is malformed (400, RFC 6750 §3.1)
    ├── InvalidToken             bearer token missing or bad at a protected API (401, RFC 6750 §3.1)
    ├── InsufficientScope        the token is good but lacks a scope the endpoint needs (403, RFC 6750 §3.1)
    └── ApiError                 management API error: {"status": "ERROR", "error": code, "message": …} (wire.ErrorOut)

``description`` is public; ``detail`` is private and only logged.
"""

from __future__ import annotations


class KeyturnError(Exception):
    pass


class OAuthError(KeyturnError):
    error: str = "invalid_request"
    status_code: int = 400

    def __init__(self, description: str | None = None, *, detail: str | None = None,
                 auth_scheme: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(description or self.error)
        self.description = description
        self.detail = detail
        self.auth_scheme = auth_scheme
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidDPoPProof(OAuthError):
    """RFC 9449 §5: the token request's DPoP proof is missing where required, invalid, or of another key."""

    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """RFC 9449 §8: the proof lacks the server's current nonce; the answer carries one in ``DPoP-Nonce``."""

    error = "use_dpop_nonce"

    def __init__(self, nonce: str) -> None:
        super().__init__("a DPoP proof with the nonce in the DPoP-Nonce header is required")
        self.nonce = nonce


class InvalidClient(OAuthError):
    error = "invalid_client"
    status_code = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403


class LoginRequired(OAuthError):
    error = "login_required"


class ConsentRequired(OAuthError):
    error = "consent_required"


class InteractionRequired(OAuthError):
    error = "interaction_required"


class RequestNotSupported(OAuthError):
    """OIDC Core §3.1.2.6: the ``request`` parameter (a Request Object) is not supported."""
    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    """OIDC Core §3.1.2.6: the ``request_uri`` parameter is not supported."""
    error = "request_uri_not_supported"


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2: a client metadata field is invalid, or one Keyturn does not support."""
    error = "invalid_client_metadata"


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2: a redirect URI is invalid."""
    error = "invalid_redirect_uri"


class TooManyRequests(OAuthError):
    """Too many failures or requests; ``retry_after`` seconds go out as Retry-After (RFC 6585 §4).
    RFC 6749 has no code for it (``slow_down`` is RFC 8628's, for device polling): ``invalid_request``."""
    error = "invalid_request"
    status_code = 429


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503


class InvalidBearerRequest(KeyturnError):
    """RFC 6750 §3.1 ``invalid_request``: the token is sent in a malformed way, or more than one way (400)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidToken(KeyturnError):
    """RFC 6750 §3.1: the access token / API key is missing, malformed, expired or revoked."""

    def __init__(self, description: str = "The access token is missing, invalid, expired or revoked",
                 *, detail: str | None = None, missing: bool = False) -> None:
        super().__init__(description)
        self.description = description
        self.detail = detail
        self.missing = missing


class DPoPRefused(KeyturnError):
    """RFC 9449 §7.1, §9: a resource refuses a DPoP request (401, ``WWW-Authenticate: DPoP``): ``invalid_token``
    (a bound token as Bearer, another key), ``invalid_dpop_proof`` or ``use_dpop_nonce`` (with ``nonce``)."""

    def __init__(self, error: str, description: str, *, nonce: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.nonce = nonce


class InsufficientScope(KeyturnError):
    """RFC 6750 §3.1: the access token lacks ``scope``, which this request needs (403)."""

    def __init__(self, scope: str, description: str | None = None) -> None:
        super().__init__(description or f"the access token lacks the {scope} scope")
        self.scope = scope
        self.description = description or f"the access token lacks the {scope} scope"


class ApiError(KeyturnError):
    """A management-API error: one JSON shape, rendered in one place."""

    def __init__(self, status_code: int, code: str, message: str, *, detail: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.detail = detail
        self.retry_after = retry_after  # seconds, sent as Retry-After (429)


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def forbidden(permission: str) -> ApiError:
    return ApiError(403, "PERMISSION_DENIED", f"missing permission {permission}")
