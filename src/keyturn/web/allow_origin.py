"""The CORS answer an endpoint decides for itself (token, revocation, userinfo, discovery: R95).

The endpoint records its decision in the ASGI scope; its own answer and the error pipeline's answer
(keyturn.web.errors) both read it there, so a refusal carries exactly the headers a success would.
Never ``*``, never credentials.
"""

from __future__ import annotations

from starlette.types import Scope

ALLOW_KEY = "keyturn.cors.allow"  # the origin the endpoint allows, in the ASGI scope


def allow_headers(origin: str) -> dict[str, str]:
    # A browser app reads a DPoP server nonce (RFC 9449 §8, §9) and the challenge only if exposed
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Expose-Headers": "DPoP-Nonce, WWW-Authenticate"}


def allow(scope: Scope, origin: str | None) -> None:
    """This request's answers reflect ``origin`` (None: they carry no CORS header)."""
    scope[ALLOW_KEY] = origin


def decided(scope: Scope) -> dict[str, str]:
    """The CORS headers the endpoint decided on for this request's answers (none if it decided nothing)."""
    origin = scope.get(ALLOW_KEY)
    return allow_headers(origin) if isinstance(origin, str) else {}
