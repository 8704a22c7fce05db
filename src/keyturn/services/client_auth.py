"""Client authentication at the token, introspection, revocation and pushed authorization request endpoints.

Methods: client_secret_basic (RFC 6749 §2.3.1, id and secret form-urlencoded
before base64), client_secret_post, the same fields in a JSON body (seed 000),
private_key_jwt (RFC 7523: ``client_assertion``; keyturn.services.client_assertion) for a client
registered for it, and ``none`` for public clients (PKCE-only code flow). Exactly one method per
request (RFC 6749 §2.3). Failures are ``invalid_client`` (401); undecodable Basic
credentials are ``invalid_request`` (400). Repeated
failures for one client_id *from one source address* within a minute get 429
(OAuth 2.1 §2.4.1, RFC 6819 §4.3.5): an attacker guessing secrets is slowed to
``client_auth_max_failures`` guesses per minute per address, while the legitimate
client calling from its own address is never locked out (F18). Refused (429)
attempts are not counted, so a block ends at most 60 s after the attack stops.
The counter is shared by every worker and node through Redis when ``KEYTURN_REDIS_URL`` is set, else per
worker and bounded in memory (keyturn.services.shared, docs/client-authentication.md).

A credential whose ``domain`` has address entries (``203.0.113.0/24``: keyturn.core.addresses)
authenticates only from a matching address (``ip``, the client's address as keyturn.web.server.address
finds it). From any other the right secret gets ``unauthorized_client`` (400, RFC 6749 §5.2: the client is
not allowed to do this), audited as ``client.address_refused`` and counted as a failure like a wrong secret.
A wrong secret from such an address is still ``invalid_client``: the restriction is told only to a caller
who holds the secret, and never which addresses are allowed.

``tls_client_auth`` (RFC 8705 §2.1): a client registered with that ``token_endpoint_auth_method`` sends its
``client_id`` and no secret, over a TLS connection with its certificate, which the trusted proxy forwards
(keyturn.web.mtls); the certificate's subject must be the registered ``tls_client_auth_subject_dn``
(keyturn.core.mtls says how DNs compare). The proxy has verified the chain. No certificate, or another
subject, is ``invalid_client`` like a wrong secret. When the proxy forwards unverified certificates too
(``KEYTURN_MTLS_VERIFY_HEADER`` set, nginx ``optional_no_ca``), the proxy's result must also say ``SUCCESS``:
otherwise anyone could make a certificate with that subject.

``self_signed_tls_client_auth`` (RFC 8705 §2.2): the forwarded certificate is, byte for byte, one the client
registered in its JWK Set (``x5c``; keyturn.core.mtls.certificate_registered); its chain is not looked at. It
is served only with ``KEYTURN_MTLS_VERIFY_HEADER`` set: a proxy that forwards self-signed certificates must
say which certificates it verified, or ``tls_client_auth`` would trust any self-made one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote_to_bytes

from keyturn import metrics
from keyturn.core.addresses import address_in, domain_networks
from keyturn.core.errors import InvalidClient, InvalidRequest, TooManyRequests, UnauthorizedClient
from keyturn.core.models import Client, is_client_id
from keyturn.core.mtls import TLS_METHODS, certificate_registered, subject_matches, thumbprint
from keyturn.core.ratelimit import quota
from keyturn.core.secrets import digest
from keyturn.services import fapi
from keyturn.services.client_assertion import ASSERTION_TYPE, AssertionRefused, claimed_client, verify_assertion
from keyturn.services.context import Services
from keyturn.storage import audit

if TYPE_CHECKING:
    from cryptography import x509

_DUMMY_DIGEST = digest("keyturn-no-such-client")
FAILURE_WINDOW = 60.0  # seconds a failed client authentication counts


@dataclass(frozen=True, slots=True)
class ClientAuth:
    client: Client
    method: str  # client_secret_basic | client_secret_post | private_key_jwt | (self_signed_)tls_client_auth | none


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A token request whose client is authenticated: what a grant handler receives."""

    params: dict[str, str]
    auth: ClientAuth
    now: float
    ip: str | None = None
    origin: str | None = None
    dpop_jkt: str | None = None  # RFC 9449 §5: the thumbprint of the key a valid DPoP proof holds
    x5t: str | None = None  # RFC 8705 §3: the access token is bound to this client certificate (x5t#S256)

    @property
    def token_type(self) -> str:
        """RFC 9449 §5.1: ``DPoP`` for a token bound to a key, else ``Bearer``."""
        return "DPoP" if self.dpop_jkt else "Bearer"

    @property
    def client(self) -> Client:
        return self.auth.client


_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _form_decode(text: str) -> str:
    """application/x-www-form-urlencoded decoding (RFC 6749 §2.3.1, Appendix B), strictly: a ``%`` not
    followed by two hex digits, or bytes that are not UTF-8, are an error (ValueError)."""
    if _BAD_PERCENT.search(text):
        raise ValueError("bad percent-encoding")
    return unquote_to_bytes(text.replace("+", " ")).decode("utf-8")


def _basic(credentials: str) -> tuple[str, str]:
    """client_id and secret from the credentials of ``Authorization: Basic`` (RFC 7617 §2, RFC 6749 §2.3.1).

    Credentials that cannot be decoded are a malformed request, ``invalid_request`` (400, RFC 6749
    §5.2), not a failed authentication: no client was named. Well-formed ones with a wrong secret
    stay ``invalid_client`` (401 with ``WWW-Authenticate: Basic``, R40).
    """
    try:
        raw = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        if ":" not in raw:
            raise ValueError("no colon")
        cid, _, secret = raw.partition(":")
        return _form_decode(cid), _form_decode(secret)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("malformed Basic credentials") from None


def _secret_ok(client: Client, secret: str, now: float) -> bool:
    presented = digest(secret)
    ok = hmac.compare_digest(presented, client.secret_digest or _DUMMY_DIGEST)
    if client.prev_secret_digest and client.prev_secret_expires_at and now < client.prev_secret_expires_at:
        ok = hmac.compare_digest(presented, client.prev_secret_digest) or ok
    return ok and client.secret_digest is not None


async def authenticate_client(ctx: Services, authorization: str | None, params: dict[str, str],
                              now: float, *, allow_public: bool, ip: str | None = None,
                              certificate: x509.Certificate | None = None,
                              certificate_verified: bool = True) -> ClientAuth:
    """The authenticated client of a request. ``certificate``: the client certificate the trusted proxy forwarded;
    ``certificate_verified``: whether the proxy verified its chain (keyturn.web.mtls.certificate_verified). A
    client held to the FAPI 2.0 profile (keyturn.services.fapi) authenticates only by its key or certificate: a
    secret or none is ``invalid_client`` (not counted: nothing was guessed)."""
    auth = await _authenticate(ctx, authorization, params, now, allow_public=allow_public, ip=ip,
                               certificate=certificate, certificate_verified=certificate_verified)
    try:
        fapi.check_method(ctx.settings, auth.client, auth.method,
                          auth_scheme="Basic" if auth.method == "client_secret_basic" else None)
    except InvalidClient:
        _failed("fapi_method")
        raise
    return auth


async def _authenticate(ctx: Services, authorization: str | None, params: dict[str, str],
                        now: float, *, allow_public: bool, ip: str | None = None,
                        certificate: x509.Certificate | None = None,
                        certificate_verified: bool = True) -> ClientAuth:
    scheme: str | None = None
    if authorization:
        auth_scheme, _, credentials = authorization.partition(" ")
        if auth_scheme.lower() != "basic":
            _failed("unsupported_scheme")
            raise InvalidClient("unsupported client authentication scheme", auth_scheme="Basic")
        scheme = "Basic"
        if "client_secret" in params or "client_assertion" in params:
            raise InvalidRequest("use exactly one client authentication method")
        client_id, secret = _basic(credentials)
        if "client_id" in params and params["client_id"] != client_id:
            raise InvalidRequest("client_id in the body differs from the authenticated client")
        method = "client_secret_basic"
    elif "client_assertion" in params or "client_assertion_type" in params:
        # RFC 7521 §4.2, RFC 7523 §2.2: private_key_jwt (keyturn.services.client_assertion)
        if "client_secret" in params:
            raise InvalidRequest("use exactly one client authentication method")
        if params.get("client_assertion_type") != ASSERTION_TYPE or not params.get("client_assertion"):
            _failed("unsupported_method")
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE} with a client_assertion")
        secret = params["client_assertion"]
        client_id = params.get("client_id") or claimed_client(secret)
        if not client_id:
            _failed("bad_assertion")
            raise InvalidClient("client authentication failed", detail="the assertion names no client")
        if client_id != claimed_client(secret):
            _failed("bad_assertion")
            raise InvalidClient("client authentication failed", detail="client_id differs from the assertion's")
        method = "private_key_jwt"
    else:
        client_id = params.get("client_id", "")
        secret = params.get("client_secret", "")
        method = "client_secret_post" if secret else "none"
        if not client_id:
            _failed("missing")
            raise InvalidClient("client authentication is required")
    if not is_client_id(client_id):
        _failed("malformed_client_id")
        raise InvalidClient("client authentication failed", auth_scheme=scheme, detail="malformed client_id")
    limit, key = ctx.settings.client_auth_max_failures, f"{client_id} {ip or '-'}"
    retry = await ctx.shared.peek("client-auth", key, limit, FAILURE_WINDOW)
    if retry is not None:
        # OAuth 2.1 §2.4.1 / §8 D5: 429 + Retry-After; says nothing about whether the secret was right.
        metrics.RATE_LIMITED.labels("client_auth").inc()
        raise TooManyRequests("too many failed client authentications; retry later", retry_after=retry)
    client = await ctx.client(client_id, now)
    if method == "none" and client is not None and client.auth_method in TLS_METHODS:
        return await _certificate_auth(ctx, client, certificate, certificate_verified, now, key, ip)
    if method == "none":
        if client is not None and client.is_public and client.active(now) and allow_public:
            return ClientAuth(client, "none")  # a public client is an OIDC client: no `domain`
        if client is not None and client.is_public and client.active(now):
            _failed("public_client")
            raise InvalidClient("this grant requires a confidential client", auth_scheme=scheme)
        await _refuse(ctx, key, "unknown_client" if client is None else "no_secret", auth_scheme=scheme)
    if method == "private_key_jwt":
        return await _assertion(ctx, client, secret, now, key, ip)
    if client is None or client.is_public:
        _secret_ok_dummy(secret)
        await _refuse(ctx, key, "unknown_client" if client is None else "public_client", auth_scheme=scheme,
                      detail="unknown client" if client is None else "public client sent a secret")
    if not _secret_ok(client, secret, now) or not client.active(now):
        reason = _inactive_reason(client, now) or "bad_secret"
        # The answer is the same for every reason (nothing learnt about the secret); the log says which.
        await _refuse(ctx, key, reason, auth_scheme=scheme,
                      detail="credential expired" if reason == "expired_client" else "bad secret or client disabled")
    if client.auth_method is not None and client.auth_method != method:
        # RFC 7591 §2: a client registered with token_endpoint_auth_method authenticates that way only
        _failed("wrong_method")
        raise InvalidClient("client authentication failed", auth_scheme=scheme,
                            detail=f"registered for {client.auth_method}, used {method}")
    await _allowed_from(ctx, client, ip, key, now)
    return ClientAuth(client, method)


async def _refuse(ctx: Services, key: str, reason: str, *, auth_scheme: str | None = None,
                  detail: str | None = None) -> NoReturn:
    """A failed client authentication: logged and counted by ``reason``, added to the failures of ``key``
    (client id and address: the brute-force limit), answered ``invalid_client`` alike whatever the reason."""
    _failed(reason)
    await ctx.shared.add("client-auth", key, ctx.settings.client_auth_max_failures, FAILURE_WINDOW)
    raise InvalidClient("client authentication failed", auth_scheme=auth_scheme, detail=detail)


async def _assertion(ctx: Services, client: Client | None, assertion: str, now: float, key: str,
                     ip: str | None) -> ClientAuth:
    """private_key_jwt: the client registered for it, active, and its assertion verified."""
    reason, detail = "", ""
    if client is None or client.is_public:
        reason, detail = ("unknown_client", "unknown client") if client is None else ("public_client", "public client")
    elif client.auth_method != "private_key_jwt":
        reason = "wrong_method"
        detail = f"registered for {client.auth_method or 'a client secret'}, used private_key_jwt"
    elif not client.active(now):
        reason = _inactive_reason(client, now) or "inactive_client"
        detail = "credential expired" if reason == "expired_client" else "client disabled"
    else:
        try:
            await verify_assertion(ctx, client, assertion, now)
        except AssertionRefused as refused:
            reason, detail = refused.reason, refused.detail
    if reason:
        await _refuse(ctx, key, reason, detail=detail)
    assert client is not None
    await _allowed_from(ctx, client, ip, key, now)
    return ClientAuth(client, "private_key_jwt")


async def _allowed_from(ctx: Services, client: Client, ip: str | None, key: str, now: float) -> None:
    """A credential whose ``domain`` lists addresses authenticates only from one of them."""
    limit = ctx.settings.client_auth_max_failures
    nets = domain_networks(client.domain) if client.kind == "credential" and client.domain else ()
    if nets and not address_in(ip, nets):
        _failed("address_refused")
        await ctx.shared.add("client-auth", key, limit, FAILURE_WINDOW)
        async with ctx.engine.begin() as conn:
            await audit.record(conn, "client.address_refused", at=now, client_id=client.client_id, ip=ip)
        # Seed 000's `domain` names the addresses it may call from; which ones is not told (nor logged here).
        raise UnauthorizedClient("this client is not allowed from this address")


def client_jwks(client: Client) -> Any:
    """The JWK Set a client registered (``jwks``), where its self-signed certificates are (RFC 8705 §2.2)."""
    return (client.registered_metadata or {}).get("jwks")


def _certificate_refused(ctx: Services, client: Client, certificate: x509.Certificate | None,
                         verified: bool) -> str | None:
    """Why ``certificate`` does not authenticate ``client`` (a reason for the failure counter), or None."""
    if certificate is None:
        return "no_certificate"
    if client.auth_method == "self_signed_tls_client_auth":  # RFC 8705 §2.2: the whole certificate
        if not ctx.settings.mtls_verify_header:
            return "self_signed_off"
        return None if certificate_registered(certificate, client_jwks(client)) else "bad_certificate"
    dn = (client.registered_metadata or {}).get("tls_client_auth_subject_dn")  # §2.1: the proxy's CA + the DN
    if not verified:
        return "unverified_certificate"
    return None if isinstance(dn, str) and subject_matches(certificate, dn) else "bad_certificate"


async def _certificate_auth(ctx: Services, client: Client, certificate: x509.Certificate | None, verified: bool,
                            now: float, key: str, ip: str | None) -> ClientAuth:
    """RFC 8705 §2: ``tls_client_auth`` (a verified certificate whose subject is the registered DN) or
    ``self_signed_tls_client_auth`` (a certificate the client registered)."""
    reason = _certificate_refused(ctx, client, certificate, verified) or _inactive_reason(client, now)
    if reason is not None:
        await _refuse(ctx, key, reason, detail="no client certificate" if reason == "no_certificate"
                      else "client certificate refused or client disabled")
    await _allowed_from(ctx, client, ip, key, now)
    return ClientAuth(client, client.auth_method or "tls_client_auth")


def certificate_binding(client: Client, certificate: x509.Certificate | None, *,
                        sender_constrained: bool = False) -> str | None:
    """RFC 8705 §3: the ``x5t#S256`` a token issued to ``client`` on this request is bound to, or None. A client
    registered with ``tls_client_certificate_bound_access_tokens`` gets bound tokens only: without a
    certificate its request is refused (``invalid_request``), as it would get tokens it did not ask for.
    ``sender_constrained``: the tokens must be bound to something (a FAPI 2.0 client without a DPoP proof):
    to the certificate when the request has one."""
    if not (client.registered_metadata or {}).get("tls_client_certificate_bound_access_tokens"):
        return thumbprint(certificate) if sender_constrained and certificate is not None else None
    if certificate is None:
        raise InvalidRequest("this client's access tokens are bound to its certificate: connect with it (mTLS)")
    return thumbprint(certificate)


async def check_quota(ctx: Services, client: Client) -> None:
    """A credential's request quota (``rate_limit``, N/S) at the token endpoint: 429 + Retry-After past it
    (RFC 6585 §4), counted across every worker and node through Redis when configured."""
    limit = quota(client.rate_limit)
    if limit is None:
        return
    # keyed by the quota too: a changed quota counts afresh
    retry = await ctx.shared.take("quota:client", f"{client.client_id}:{client.rate_limit}", *limit)
    if retry is not None:
        metrics.RATE_LIMITED.labels("client_quota").inc()
        raise TooManyRequests(f"this client allows {limit[0]} token requests per {limit[1]:g} seconds; retry later",
                              retry_after=retry)


def _inactive_reason(client: Client, now: float) -> str | None:
    """Why ``client`` cannot authenticate whatever its secret: ``expired_client`` when only its expiration
    has passed (docs/client-authentication.md), ``inactive_client`` when disabled or deleted, else None."""
    if client.active(now):
        return None
    if client.status == 0 and client.deleted_at is None:
        return "expired_client"
    return "inactive_client"


def _failed(reason: str) -> None:
    """Count a failed client authentication (``keyturn_client_auth_failures_total``; ``reason`` from a fixed set)."""
    metrics.CLIENT_AUTH_FAILURES.labels(reason).inc()


def _secret_ok_dummy(secret: str) -> None:
    """Same work for an unknown client as for a known one (no enumeration by timing)."""
    hmac.compare_digest(digest(secret), _DUMMY_DIGEST)


