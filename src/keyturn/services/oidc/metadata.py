"""Client metadata (RFC 7591 §2, OpenID Connect Dynamic Client Registration 1.0 §2): the one parser behind
``POST /register`` (RFC 7591), ``PUT /register/{client_id}`` (RFC 7592) and ``POST /api/oidc-clients``.

``SUPPORTED`` is every name Keyturn knows, as data: its JSON type, the field of :class:`ClientMetadata` it
sets (``info``: kept as registered and echoed, nothing else) and, where only some values are supported, which.
A name that is not there is refused with ``invalid_client_metadata`` naming it. RFC 7591 §2 lets a server
ignore metadata it does not understand, but a client that asked for ``private_key_jwt``, a ``jwks_uri``
or certificate-bound tokens and silently got a
``client_secret_basic`` client without them is worse off than one told no (docs/registration.md). To support a
new name, add its line: with field ``info`` it is kept in ``Client.registered_metadata`` (where the feature
reads it: ``client.registered_metadata.get(name)``) and echoed by the registration answers; or give it a field
of its own and map that in ``services/oidc/clients.py:build``.

Errors are the management API's (``ApiError`` ``INVALID_CLIENT_METADATA``, ``INVALID_REDIRECT_URI``…);
the registration endpoint answers them as RFC 7591 §3.2.2 errors (services/oidc/registration.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from keyturn.core.durations import parse_duration
from keyturn.core.errors import ApiError
from keyturn.core.jose import CLIENT_ID_TOKEN_ALGS, REGISTRABLE_ALGS
from keyturn.core.models import GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN
from keyturn.core.mtls import TLS_METHODS, normalise_dn
from keyturn.core.text import text_problem
from keyturn.services.client_jwks import MAX_KEYS, check_jwks, check_jwks_uri

__all__ = ["MAX_KEYS", "SUPPORTED", "ClientMetadata", "Meta", "check_jwks", "credential_fields", "credential_keys",
           "credential_tls", "invalid", "parse", "uses_rfc7591"]

Kind = Literal["string", "strings", "uri", "uris", "bool", "jwks"]
# what services/client_auth.py accepts (tls_client_auth: RFC 8705 §2.1, served with KEYTURN_MTLS_CERT_HEADER;
# self_signed_tls_client_auth: §2.2, its certificates in jwks, served with KEYTURN_MTLS_VERIFY_HEADER too)
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "private_key_jwt", *TLS_METHODS)
KEYLESS_METHODS = ("private_key_jwt", *TLS_METHODS)  # authenticate without a secret: no client_secret issued
MAX_ITEMS = 50
MAX_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class Meta:
    kind: Kind
    field: str  # the ClientMetadata field it sets; "info": kept as registered and echoed
    choices: tuple[str, ...] = ()  # the only values supported (empty: any valid value)
    rfc: bool = True  # False: Keyturn's own name, accepted by POST /api/oidc-clients only


SUPPORTED: dict[str, Meta] = {
    # RFC 7591 §2
    "redirect_uris": Meta("uris", "redirect_uris"),
    "token_endpoint_auth_method": Meta("string", "auth_method", AUTH_METHODS),
    "grant_types": Meta("strings", "grant_types", (GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN)),
    "response_types": Meta("strings", "response_types", ("code",)),
    "client_name": Meta("string", "name"),
    "scope": Meta("string", "scope"),
    "client_uri": Meta("uri", "info"),
    "logo_uri": Meta("uri", "info"),
    "tos_uri": Meta("uri", "info"),
    "policy_uri": Meta("uri", "info"),
    "contacts": Meta("strings", "info"),
    "software_id": Meta("string", "info"),
    "software_version": Meta("string", "info"),
    # OpenID Connect Dynamic Client Registration 1.0 §2, RP-Initiated Logout 1.0 §3.1
    "application_type": Meta("string", "info", ("web", "native")),
    "id_token_signed_response_alg": Meta("string", "id_token_alg", CLIENT_ID_TOKEN_ALGS),
    "post_logout_redirect_uris": Meta("uris", "post_logout_redirect_uris"),
    # RFC 7591 §2, RFC 7523: private_key_jwt (keyturn.services.client_assertion); kept as registered
    "jwks": Meta("jwks", "info"),
    "jwks_uri": Meta("uri", "info"),  # only to a host on KEYTURN_JWKS_URI_ALLOWED_HOSTS (client_jwks)
    "token_endpoint_auth_signing_alg": Meta("string", "info", REGISTRABLE_ALGS),
    # RFC 9449 §5.2: every token request of this client must carry a DPoP proof
    "dpop_bound_access_tokens": Meta("bool", "dpop_bound_access_tokens"),
    # RFC 9126 §6: its authorization requests must be pushed (POST /par) first
    "require_pushed_authorization_requests": Meta("bool", "require_pushed_authorization_requests"),
    # RFC 8705 §2.1.2: the subject DN of the client's certificate (tls_client_auth); §3.4: tokens bound to it
    "tls_client_auth_subject_dn": Meta("string", "info"),
    "tls_client_certificate_bound_access_tokens": Meta("bool", "info"),
    # Keyturn's own names (POST /api/oidc-clients; docs/oidc-client.md)
    "name": Meta("string", "name", rfc=False),
    "type": Meta("string", "type", ("public", "confidential"), rfc=False),
    "allowed_origins": Meta("uris", "origins", rfc=False),
    "first_party": Meta("bool", "first_party", rfc=False),
    "refresh_tokens": Meta("bool", "refresh_tokens", rfc=False),
    "revoke_refresh_on_logout": Meta("bool", "revoke_refresh_on_logout", rfc=False),
    # held to the FAPI 2.0 Security Profile (keyturn.services.fapi; docs/fapi2.md)
    "fapi2": Meta("bool", "fapi2", rfc=False),
}
# Two names for one field: sending both is refused (neither silently wins)
SAME_FIELD = (("name", "client_name"), ("type", "token_endpoint_auth_method"), ("refresh_tokens", "grant_types"))
# What an RFC 7592 update must not send (§2.2): the server's own fields
SERVER_FIELDS = ("registration_access_token", "registration_client_uri", "client_secret_expires_at",
                 "client_id_issued_at")


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """An OIDC client as asked for, its values type-checked (URIs, scope and origins are checked on create)."""

    name: str
    public: bool
    redirect_uris: list[str]
    auth_method: str | None = None  # None: Keyturn's `type` (a confidential client may use basic or post)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    origins: list[str] | None = None
    first_party: bool = False
    scope: str | None = None
    refresh_tokens: bool = True
    revoke_refresh_on_logout: bool = True
    id_token_alg: str | None = None
    dpop_bound_access_tokens: bool = False
    require_pushed_authorization_requests: bool = False
    fapi2: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def registered(self) -> dict[str, Any] | None:
        """What the client record keeps as registered (``Client.registered_metadata``), or None."""
        kept = dict(self.info)
        if self.auth_method is not None:
            kept["token_endpoint_auth_method"] = self.auth_method
        return kept or None


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_CLIENT_METADATA", message)


def _safe(name: str) -> str:
    """A metadata name fit for an error message (printable ASCII, at most 60 characters)."""
    return "".join(c for c in name[:60] if 0x20 <= ord(c) <= 0x7E and c not in '"\\') or "?"


def _string(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH:
        raise invalid(f"{name} must be a non-empty string of at most {MAX_LENGTH} characters")
    problem = text_problem(value)
    if problem is not None:
        raise invalid(f"{name}: {problem}")
    if choices and value not in choices:
        raise invalid(f"{name} {_safe(value)!r} is not supported (supported: {', '.join(choices)})")
    return value


def _value(name: str, meta: Meta, value: Any) -> Any:
    if meta.kind == "jwks":
        return check_jwks(name, value)
    if meta.kind == "bool":
        if not isinstance(value, bool):
            raise invalid(f"{name} must be true or false")
        return value
    if meta.kind in ("strings", "uris"):
        if not isinstance(value, list) or len(value) > MAX_ITEMS or (meta.kind == "strings" and not value):
            raise invalid(f"{name} must be a list of at most {MAX_ITEMS} strings"
                          + (", not empty" if meta.kind == "strings" else ""))
        if meta.kind == "uris":
            if not all(isinstance(v, str) for v in value):
                raise ApiError(400, "INVALID_REDIRECT_URI" if name.endswith("redirect_uris") else
                               "INVALID_CLIENT_METADATA", f"{name} must be a list of strings")
            return list(value)  # redirect URIs and origins: checked by their own rules on create
        return [_string(name, v, meta.choices) for v in value]
    text = _string(name, value, meta.choices)
    if meta.kind == "uri":
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http") or not parts.netloc or "#" in text:
            raise invalid(f"{name} must be an absolute http(s) URL without a fragment")
    return text


def parse(body: Mapping[str, Any], *, dynamic: bool, jwks_uri_hosts: Collection[str] = ()) -> ClientMetadata:
    """The metadata of ``body`` (a JSON object). ``dynamic``: RFC 7591/7592 registration, where only the RFC
    names are accepted and the RFC's defaults apply (``client_secret_basic``; ``authorization_code`` alone);
    otherwise Keyturn's names are accepted too, with its defaults (public; refresh tokens on).
    ``jwks_uri_hosts``: ``KEYTURN_JWKS_URI_ALLOWED_HOSTS`` (empty: ``jwks_uri`` is refused)."""
    for sent in body:
        meta = SUPPORTED.get(sent)
        if meta is None or (dynamic and not meta.rfc):
            raise invalid(f"client metadata {_safe(sent)} is not supported by this server")
    given = {n: v for n, v in body.items() if v is not None}
    for a, b in SAME_FIELD:
        if a in given and b in given:
            raise invalid(f"send {a} or {b}, not both: they name one field")
    values: dict[str, Any] = {n: check_jwks_uri(v, jwks_uri_hosts) if n == "jwks_uri"
                              else _value(n, SUPPORTED[n], v) for n, v in given.items()}
    _check_tls(values)
    # RFC 7591 §2.1: response_types code goes with grant_types authorization_code; Keyturn serves only code
    grant_types = values.get("grant_types")
    if grant_types is not None and GRANT_AUTHORIZATION_CODE not in grant_types:
        raise invalid("grant_types must include authorization_code (response_types code; RFC 7591 §2.1)")
    refresh = (GRANT_REFRESH_TOKEN in grant_types if grant_types is not None
               else values.get("refresh_tokens", not dynamic))
    auth_method = values.get("token_endpoint_auth_method")
    if auth_method is None and dynamic:
        auth_method = "client_secret_basic"  # RFC 7591 §2: the default when omitted
    _check_keys(values, auth_method)
    public = auth_method == "none" if auth_method is not None else values.get("type", "public") == "public"
    redirect_uris = values.get("redirect_uris", [])
    name = values.get("name") or values.get("client_name")
    if name is None:
        if not dynamic:
            raise ApiError(400, "INVALID_REQUEST", "name (or client_name) is required")
        first = urlsplit(redirect_uris[0]).hostname if redirect_uris else None
        name = first or "unnamed client"
    return ClientMetadata(
        name=name, public=public, auth_method=auth_method, redirect_uris=redirect_uris,
        post_logout_redirect_uris=values.get("post_logout_redirect_uris", []), origins=values.get("allowed_origins"),
        first_party=values.get("first_party", False), scope=values.get("scope"), refresh_tokens=refresh,
        revoke_refresh_on_logout=values.get("revoke_refresh_on_logout", True),
        id_token_alg=values.get("id_token_signed_response_alg"),
        dpop_bound_access_tokens=values.get("dpop_bound_access_tokens", False),
        require_pushed_authorization_requests=values.get("require_pushed_authorization_requests", False),
        fapi2=values.get("fapi2", False), info={n: v for n, v in values.items() if SUPPORTED[n].field == "info"})


def _check_keys(values: Mapping[str, Any], auth_method: Any) -> None:
    """RFC 7591 §2: private_key_jwt goes with ``jwks`` or ``jwks_uri`` (never both), and they only with it or
    self_signed_tls_client_auth, whose certificates are the ``x5c`` of its keys (RFC 8705 §2.2) — registered
    inline: a certificate is looked up at each connection, so Keyturn does not fetch them (``jwks_uri`` refused
    for it)."""
    if "jwks" in values and "jwks_uri" in values:
        raise invalid("send jwks or jwks_uri, not both (RFC 7591 §2)")
    if auth_method == "self_signed_tls_client_auth":
        if "jwks" not in values:
            raise invalid("token_endpoint_auth_method self_signed_tls_client_auth needs jwks with its certificates "
                          "(x5c); jwks_uri is not supported for it")
        if not any("x5c" in k for k in values["jwks"]["keys"]):  # RFC 8705 §2.2
            raise invalid("token_endpoint_auth_method self_signed_tls_client_auth needs jwks with a certificate "
                          "(x5c)")
    elif (auth_method == "private_key_jwt") != ("jwks" in values or "jwks_uri" in values):
        raise invalid("token_endpoint_auth_method private_key_jwt goes with jwks or jwks_uri, and they only with it "
                      "(or jwks with self_signed_tls_client_auth)")
    if "token_endpoint_auth_signing_alg" in values and auth_method != "private_key_jwt":
        raise invalid("token_endpoint_auth_signing_alg goes with token_endpoint_auth_method private_key_jwt")


def _check_tls(values: dict[str, Any]) -> None:
    """RFC 8705 §2.1.2: ``tls_client_auth`` names the certificate's subject DN, an RFC 4514 string (kept in
    the normalised form keyturn.core.mtls compares); the DN goes with that method only."""
    dn = values.get("tls_client_auth_subject_dn")
    method = values.get("token_endpoint_auth_method")
    if method == "tls_client_auth" and dn is None:
        raise invalid("token_endpoint_auth_method tls_client_auth needs tls_client_auth_subject_dn")
    if dn is not None:
        if method != "tls_client_auth":
            raise invalid("tls_client_auth_subject_dn goes with token_endpoint_auth_method tls_client_auth")
        try:
            values["tls_client_auth_subject_dn"] = normalise_dn(dn)
        except ValueError:
            raise invalid("tls_client_auth_subject_dn must be an RFC 4514 distinguished name") from None


# Seed 000's credential endpoint (POST /api/v2/credential) takes these RFC 7591 names beside its own; a
# credential is a machine client, so only these, with what makes sense for one (docs/management-api.md).
CREDENTIAL_NAMES = {"client_name": "name", "redirect_uris": "redirect"}  # RFC 7591 name -> the seed's
KEY_NAMES = ("jwks", "jwks_uri", "token_endpoint_auth_signing_alg")  # RFC 7591 §2, RFC 7523: private_key_jwt
CREDENTIAL_RFC_ONLY = ("grant_types", "token_endpoint_auth_method", *KEY_NAMES)
TLS_NAMES = ("tls_client_auth_subject_dn", "tls_client_certificate_bound_access_tokens")  # RFC 8705
CREDENTIAL_GRANTS = (GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, GRANT_AUTHORIZATION_CODE)
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
CREDENTIAL_METHODS = (*SECRET_METHODS, "tls_client_auth", "private_key_jwt")


def credential_tls(body: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 8705 metadata of a credential request (``tls_client_auth_subject_dn`` with
    ``token_endpoint_auth_method`` ``tls_client_auth``; ``tls_client_certificate_bound_access_tokens``), checked
    as for an OIDC client: what the credential keeps in ``registered_metadata`` beside its method."""
    values = {n: _value(n, SUPPORTED[n], body[n]) for n in TLS_NAMES if body.get(n) is not None}
    method = body.get("token_endpoint_auth_method")
    _check_tls({**values, "token_endpoint_auth_method": method} if method is not None else values)
    if "tls_client_auth_subject_dn" in values:
        values["tls_client_auth_subject_dn"] = normalise_dn(values["tls_client_auth_subject_dn"])
    return values


def credential_keys(body: Mapping[str, Any], jwks_uri_hosts: Collection[str], *,
                    method: Any = None) -> dict[str, Any]:
    """The private_key_jwt metadata of a credential request (``jwks`` or ``jwks_uri``, and
    ``token_endpoint_auth_signing_alg``), checked as for an OIDC client and paired with the method (the body's
    ``token_endpoint_auth_method``, else ``method``): what the credential keeps in ``registered_metadata``."""
    values = {n: check_jwks_uri(body[n], jwks_uri_hosts) if n == "jwks_uri" else _value(n, SUPPORTED[n], body[n])
              for n in KEY_NAMES if body.get(n) is not None}
    _check_keys(values, body.get("token_endpoint_auth_method", method))
    return values


def uses_rfc7591(body: Mapping[str, Any]) -> bool:
    """Whether a credential request used an RFC 7591 name (its answer then carries client_id/client_secret)."""
    return any(n in body for n in (*CREDENTIAL_NAMES, *CREDENTIAL_RFC_ONLY))


def credential_fields(body: Mapping[str, Any], default_refresh: str | None) -> tuple[dict[str, Any], str | None]:
    """``body`` in the seed's names, and the token endpoint auth method asked for (None: not asked).

    ``grant_types`` decides the refresh lifetime when ``refresh`` is absent (with ``refresh_token``: the server
    default; without: none) and must agree with it when both are sent; ``authorization_code`` goes with
    redirect URIs (RFC 7591 §2.1). The answer's ``grant_types`` are the credential's (RFC 7591 §3.2.1)."""
    out = dict(body)
    for rfc, seed in CREDENTIAL_NAMES.items():
        if rfc in out:
            if seed in out:
                raise ApiError(400, "INVALID_REQUEST", f"send {seed} or {rfc}, not both: they name one field")
            out[seed] = out.pop(rfc)
    for name in KEY_NAMES:  # credential_keys reads these
        out.pop(name, None)
    method = out.pop("token_endpoint_auth_method", None)
    if method is not None and method not in CREDENTIAL_METHODS:
        raise invalid(f"token_endpoint_auth_method {_safe(str(method))!r} is not supported for credentials "
                      f"(supported: {', '.join(CREDENTIAL_METHODS)})")
    grant_types = out.pop("grant_types", None)
    if grant_types is None:
        return out, method
    refused = [g for g in grant_types if g not in CREDENTIAL_GRANTS]
    if refused:
        raise invalid(f"grant_types {_safe(str(refused[0]))!r} is not supported for credentials "
                      f"(supported: {', '.join(CREDENTIAL_GRANTS)})")
    if GRANT_CLIENT_CREDENTIALS not in grant_types:
        raise invalid("grant_types must include client_credentials: a credential is a client-credentials client")
    if (GRANT_AUTHORIZATION_CODE in grant_types) != bool(out.get("redirect")):
        raise invalid("grant_types authorization_code goes with redirect_uris, and only with them (RFC 7591 §2.1)")
    wants_refresh = GRANT_REFRESH_TOKEN in grant_types
    if "refresh" in out:
        try:
            has_refresh = parse_duration(out["refresh"]) is not None if isinstance(out["refresh"], str) else (
                out["refresh"] is not None)
        except ValueError:
            return out, method  # the seed's own check names the bad duration
        if has_refresh != wants_refresh:
            raise invalid("refresh and grant_types disagree (refresh_token in grant_types needs a refresh lifetime)")
    elif not wants_refresh:
        out["refresh"] = None
    elif default_refresh is None or parse_duration(default_refresh) is None:
        raise invalid("grant_types refresh_token needs a refresh lifetime: send refresh (e.g. 1d)")
    return out, method
