"""Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery 1.0 §3).

Every URL derives from the issuer setting, never from ``Host`` (R80); only live endpoints are listed (R104).
With ``KEYTURN_FAPI2`` every OIDC client is held to the FAPI 2.0 profile, so only what it allows is advertised
(:func:`_fapi2`): no secret or ``none`` authentication, no RS* algorithm, no ``plain`` PKCE, PAR required.
"""

from __future__ import annotations

from typing import Any

from keyturn.core import paths
from keyturn.services import fapi
from keyturn.services.client_assertion import REGISTRABLE_ALGS
from keyturn.services.oidc.claims import CLAIMS_SUPPORTED, id_token_algs
from keyturn.services.oidc.request import OIDC_SCOPES
from keyturn.settings import Settings

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]


def metadata(settings: Settings) -> dict[str, Any]:
    document = _metadata(settings)
    return _fapi2(document, settings) if settings.fapi2 else document


def _fapi2(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The metadata of a server holding every OIDC client to FAPI 2.0: only what the profile allows (§5.3.2.1
    methods, §5.4.1 algorithms, §5.3.2.2 S256 and PAR). Seed 000's credentials keep their secrets at
    ``/api/v2/access/token``, which is not this document's."""
    methods = [m for m in document["token_endpoint_auth_methods_supported"] if m in fapi.AUTH_METHODS]
    out = dict(document, require_pushed_authorization_requests=True, code_challenge_methods_supported=["S256"],
               authorization_response_iss_parameter_supported=True)
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        out[f"{name}_auth_methods_supported"] = methods
        out[f"{name}_auth_signing_alg_values_supported"] = [
            a for a in document[f"{name}_auth_signing_alg_values_supported"] if a in fapi.ALGS]
    for name in ("id_token_signing_alg_values_supported", "dpop_signing_alg_values_supported"):
        if name in document:
            out[name] = [a for a in document[name] if a in fapi.ALGS]
    return out


def _metadata(settings: Settings) -> dict[str, Any]:
    iss = settings.issuer
    # RFC 8414 §2: registration_endpoint only when registration is served (KEYTURN_REGISTRATION)
    # RFC 8705 §2.1; §2.2 only when the proxy tells which certificates it verified (docs/fapi2.md)
    mtls = ["tls_client_auth"] if settings.mtls_cert_header else []
    if settings.mtls_verify_header:
        mtls.append("self_signed_tls_client_auth")
    registration = {} if settings.registration == "off" else {"registration_endpoint": iss + paths.REGISTER}
    return {
        "issuer": iss,
        "authorization_endpoint": iss + paths.AUTHORIZE,
        "token_endpoint": iss + paths.TOKEN,
        "userinfo_endpoint": iss + paths.USERINFO,
        "jwks_uri": iss + paths.JWKS,
        "introspection_endpoint": iss + paths.INTROSPECT,
        "revocation_endpoint": iss + paths.REVOKE,
        "end_session_endpoint": iss + paths.LOGOUT,
        **registration,
        # RFC 9126 §5: always served; required of every client only with KEYTURN_REQUIRE_PAR (else per client)
        "pushed_authorization_request_endpoint": iss + paths.PAR,
        "require_pushed_authorization_requests": settings.require_par,
        "grant_types_supported": ["client_credentials", "refresh_token", "authorization_code"],
        "token_endpoint_auth_methods_supported": [*SECRET_METHODS, "private_key_jwt", *mtls, "none"],
        # RFC 7523 / OIDC Core §9: the algs a client assertion may use (RS256 only when registered)
        "token_endpoint_auth_signing_alg_values_supported": list(REGISTRABLE_ALGS),
        "introspection_endpoint_auth_methods_supported": [*SECRET_METHODS, "private_key_jwt", *mtls],
        "introspection_endpoint_auth_signing_alg_values_supported": list(REGISTRABLE_ALGS),
        "revocation_endpoint_auth_methods_supported": [*SECRET_METHODS, "private_key_jwt", *mtls, "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": list(REGISTRABLE_ALGS),
        "scopes_supported": sorted(set(settings.allowed_scopes or ()) | set(OIDC_SCOPES)),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "access_token_signing_alg_values_supported": [settings.access_token_alg],
        "id_token_signing_alg_values_supported": id_token_algs(settings),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "code_challenge_methods_supported": ["S256"] + (["plain"] if settings.allow_plain_pkce else []),
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
        # RFC 9449 §5.1: only when DPoP is on
        **({"dpop_signing_alg_values_supported": list(settings.dpop_signing_algs)} if settings.dpop else {}),
        # RFC 8705 §3.3: only when mTLS is on (KEYTURN_MTLS_CERT_HEADER); one host serves both, no aliases
        **({"tls_client_certificate_bound_access_tokens": True} if mtls else {}),
    }
