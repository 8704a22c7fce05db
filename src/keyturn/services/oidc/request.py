"""The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), validated in two stages.

Stage one proves the client and the redirect URI (errors are shown on a page, never
redirected: RFC 6749 §4.1.2.1, RFC 9700 §4.11.2). Stage two checks everything else;
its errors are redirected to the now-trusted redirect URI.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from keyturn.core import pkce
from keyturn.core.errors import (
    InvalidRequest,
    InvalidScope,
    RequestNotSupported,
    RequestUriNotSupported,
    UnsupportedResponseType,
)
from keyturn.core.models import GRANT_AUTHORIZATION_CODE, Client
from keyturn.core.models import AuthorizationRequest as AuthorizationRequest  # what validate() returns
from keyturn.core.scopes import parse_scope
from keyturn.services.redirects import redirect_uri_matches

OIDC_SCOPES = ("openid", "email", "phone", "profile", "offline_access")
PROMPTS = frozenset({"none", "login", "consent"})
MAX_PARAM = 2048
JKT = re.compile(r"[A-Za-z0-9_-]{43}")  # RFC 9449 §10: base64url of a SHA-256 RFC 7638 thumbprint


class UntrustedRedirect(Exception):
    """The client or redirect URI is not proven: show ``message`` on a page, never redirect."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def allowed_scopes(client: Client) -> tuple[str, ...]:
    if client.kind == "credential":
        return client.scopes + ("openid", "email", "phone", "profile")
    return client.scopes


def code_flow_client(client: Client | None, now: float) -> bool:
    return (client is not None and client.active(now) and bool(client.redirect_uris)
            and GRANT_AUTHORIZATION_CODE in client.grant_types)


def trusted_redirect_uri(client: Client, params: dict[str, str], repeated: Collection[str]) -> str:
    """Stage one: the redirect URI this request may be answered at (R01–R06)."""
    if "client_id" in repeated or "redirect_uri" in repeated:
        raise UntrustedRedirect("The request repeats client_id or redirect_uri.")
    requested = params.get("redirect_uri")
    if requested is None:
        # OAuth 2.1 §2.3.2: optional only when exactly one URI is registered.
        if len(client.redirect_uris) != 1:
            raise UntrustedRedirect("The request has no redirect_uri.")
        return client.redirect_uris[0]
    if len(requested) > MAX_PARAM or not redirect_uri_matches(requested, client.redirect_uris):
        raise UntrustedRedirect("The redirect_uri is not registered for this application.")
    return requested


def validate(client: Client, redirect_uri: str, params: dict[str, str], repeated: Collection[str],
             *, allow_plain_pkce: bool) -> AuthorizationRequest:
    """Stage two: every other parameter. Raises an OAuthError that may be redirected."""
    if repeated:
        raise InvalidRequest(f"parameter {sorted(repeated)[0][:40]} is repeated")
    for name in ("state", "nonce", "login_hint", "u", "scope", "code_challenge"):
        if len(params.get(name, "")) > MAX_PARAM:
            raise InvalidRequest(f"{name} is too long")
    response_type = params.get("response_type")
    if not response_type:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        # RFC 9700 §2.1.2: no implicit or hybrid flows.
        raise UnsupportedResponseType("only response_type=code is supported")
    mode = params.get("response_mode")
    if mode is not None and mode != "query":
        raise InvalidRequest("only response_mode=query is supported")
    # OIDC Core §3.1.2.6 (discovery says request_parameter_supported / request_uri_parameter_supported: false).
    if "request" in params:
        raise RequestNotSupported("the request parameter is not supported")
    if "request_uri" in params:
        raise RequestUriNotSupported("the request_uri parameter is not supported")
    scope = parse_scope(params.get("scope"))
    if not scope:
        scope = ("openid",) if client.kind == "oidc" else client.scopes
    permitted = allowed_scopes(client)
    if any(s not in permitted for s in scope):
        raise InvalidScope("requested scope is not allowed for this client")
    prompt = tuple(params.get("prompt", "").split())
    if any(p not in PROMPTS for p in prompt):
        raise InvalidRequest("unsupported prompt value")
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")  # OIDC Core §3.1.2.1
    max_age: int | None = None
    if "max_age" in params:
        raw = params["max_age"]
        if not raw.isdigit() or len(raw) > 10:
            raise InvalidRequest("max_age must be a non-negative integer")
        max_age = int(raw)
    problem = pkce.challenge_problem(params.get("code_challenge"), params.get("code_challenge_method"),
                                     allow_plain_pkce)
    if problem:
        raise InvalidRequest(problem)  # RFC 7636 §4.4.1, OAuth 2.1 §4.1.2.1
    dpop_jkt = params.get("dpop_jkt")
    if dpop_jkt is not None and not JKT.fullmatch(dpop_jkt):  # RFC 9449 §10: a SHA-256 JWK thumbprint
        raise InvalidRequest("dpop_jkt must be a base64url SHA-256 JWK thumbprint")
    return AuthorizationRequest(
        client_id=client.client_id, redirect_uri=redirect_uri, scope=scope, state=params.get("state"),
        nonce=params.get("nonce"), code_challenge=params["code_challenge"],
        code_challenge_method=params.get("code_challenge_method") or "plain", prompt=prompt, max_age=max_age,
        # Seed 001's `u` prefills the login form like login_hint.
        login_hint=params.get("login_hint") or params.get("u"), redirect_uri_sent="redirect_uri" in params,
        dpop_jkt=dpop_jkt)


def error_state(params: dict[str, str], repeated: Collection[str]) -> str | None:
    """The ``state`` to echo in an error redirect (RFC 6749 §4.1.2.1): none when it was repeated or too long,
    since then there is no single value the client sent."""
    state = params.get("state")
    if "state" in repeated or state is None or len(state) > MAX_PARAM:
        return None
    return state
