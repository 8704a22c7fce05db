"""The FAPI 2.0 Security Profile as a switch (https://openid.net/specs/fapi-security-profile-2_0.html).

A client is held to the profile when its own ``fapi2`` flag is set, or, for every OIDC (authorization-code)
client, when the server setting ``KEYTURN_FAPI2`` is on (:func:`applies`). Seed 000's credentials
(client_credentials at ``/api/v2/access/token``) are held to it only by their own flag: their seed examples
authenticate with secrets and must keep working under the server default.

What it means, each rule where the request is decided (docs/fapi2.md):

- the pushed request (:func:`check_pushed`): it names its ``redirect_uri`` (§5.3.2.2);
- registration (:func:`check_metadata`): confidential, ``private_key_jwt`` or ``tls_client_auth`` (§5.3.2.1),
  PAR required (§5.3.2.2), PS256/ES256/EdDSA only for its ID tokens and assertions (§5.4.1);
- client authentication (:func:`check_method`): the same methods at ``/par``, ``/token``, ``/introspect`` and
  ``/revoke``, whatever it was registered with before the server default was turned on;
- the token endpoint (:func:`require_sender_constraint`): tokens bound to a DPoP key or a client certificate
  (§5.3.2.1); codes live at most 60 s (:func:`code_ttl`, §5.3.2.1); DPoP proofs PS256/ES256/EdDSA only;
- refresh tokens are not rotated (:func:`rotates_refresh`, §5.3.2.1) unless ``KEYTURN_FAPI2_REFRESH_ROTATION``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jwt

from keyturn.core.errors import ApiError, InvalidClient, InvalidDPoPProof, InvalidRequest
from keyturn.core.models import Client
from keyturn.settings import Settings

ALGS = ("PS256", "ES256", "EdDSA")  # FAPI 2.0 §5.4.1: the only JWS algorithms
AUTH_METHODS = ("private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth")  # §5.3.2.1
MAX_CODE_TTL = 60  # §5.3.2.1: authorization codes live at most one minute
MIN_REFRESH_GRACE = 10  # seconds a rotated FAPI refresh token may be retried (KEYTURN_FAPI2_REFRESH_ROTATION)
ID_TOKEN_FALLBACK = "ES256"  # a FAPI client whose ID-token alg (its own or the server's) is RS256


def applies(settings: Settings, client: Client) -> bool:
    """Whether ``client`` is held to the profile: its own flag, or the server default for an OIDC client."""
    return client.fapi2 or (settings.fapi2 and client.kind == "oidc")


def check_metadata(*, public: bool, auth_method: str | None, id_token_alg: str | None,
                   signing_alg: str | None) -> None:
    """Registration: what a FAPI client must be. Raises ``INVALID_CLIENT_METADATA`` naming the field."""
    if public or auth_method == "none":
        raise ApiError(400, "INVALID_CLIENT_METADATA", "token_endpoint_auth_method: a FAPI 2.0 client is "
                       "confidential (private_key_jwt or tls_client_auth), never public")
    if auth_method not in AUTH_METHODS:
        raise ApiError(400, "INVALID_CLIENT_METADATA", "token_endpoint_auth_method must be private_key_jwt or "
                       "tls_client_auth for a FAPI 2.0 client (FAPI 2.0 §5.3.2.1), not a client secret")
    if id_token_alg is not None and id_token_alg not in ALGS:
        raise ApiError(400, "INVALID_CLIENT_METADATA", f"id_token_signed_response_alg must be one of "
                       f"{', '.join(ALGS)} for a FAPI 2.0 client (FAPI 2.0 §5.4.1)")
    if signing_alg is not None and signing_alg not in ALGS:
        raise ApiError(400, "INVALID_CLIENT_METADATA", f"token_endpoint_auth_signing_alg must be one of "
                       f"{', '.join(ALGS)} for a FAPI 2.0 client (FAPI 2.0 §5.4.1)")


def check_method(settings: Settings, client: Client, method: str, *, auth_scheme: str | None) -> None:
    """Client authentication (§5.3.2.1): a FAPI client authenticates with its key or its certificate only; a
    secret (even the right one) or none is ``invalid_client``. Runtime, as the server default also holds
    clients registered before it was turned on."""
    if method not in AUTH_METHODS and applies(settings, client):
        raise InvalidClient("this client is held to the FAPI 2.0 profile: authenticate with private_key_jwt "
                            "or tls_client_auth" + (" (a public client cannot be a FAPI 2.0 client)"
                                                    if client.is_public else ""), auth_scheme=auth_scheme)


def check_pushed(settings: Settings, client: Client, params: dict[str, str]) -> None:
    """§5.3.2.2: a FAPI client's pushed request names its ``redirect_uri``, even when it registered only one
    (which ``/authorize`` otherwise lets a client leave out, OIDC Core §3.1.2.1 aside). ``invalid_request``."""
    if not params.get("redirect_uri") and applies(settings, client):
        raise InvalidRequest("this client is held to the FAPI 2.0 profile: the pushed request must name its "
                             "redirect_uri")


def require_sender_constraint(settings: Settings, client: Client, grant_type: str, jkt: str | None,
                              certificate: bool) -> None:
    """§5.3.2.1: a FAPI client's code and refresh token requests get sender-constrained tokens only: a DPoP proof
    (``cnf.jkt``) or a client certificate (``cnf.x5t#S256``, mTLS). Without either: ``invalid_request``."""
    if grant_type in ("authorization_code", "refresh_token") and jkt is None and not certificate \
            and applies(settings, client):
        raise InvalidRequest("this client is held to the FAPI 2.0 profile: its tokens must be sender-constrained; "
                             "send a DPoP proof or connect with a client certificate (mTLS)")


def check_proof_alg(settings: Settings, client: Client, proofs: Sequence[str]) -> None:
    """§5.4.1: a FAPI client's DPoP proofs are signed PS256, ES256 or EdDSA (the header's ``alg``, an allow-list
    checked before the proof itself is; a proof that is not a JWS is left to that check to refuse)."""
    if len(proofs) != 1 or not applies(settings, client):  # every other client: no second parse of the header
        return
    try:
        alg = jwt.get_unverified_header(proofs[0]).get("alg")
    except jwt.InvalidTokenError:
        return
    if alg not in ALGS:
        raise InvalidDPoPProof("the DPoP proof is invalid", detail=f"FAPI 2.0: proof alg must be one of "
                               f"{', '.join(ALGS)}")


def assertion_algs(settings: Settings, client: Client, algs: tuple[str, ...]) -> tuple[str, ...]:
    """§5.4.1: the algs a FAPI client's assertions may use, among those it may otherwise use."""
    return tuple(a for a in algs if a in ALGS) if applies(settings, client) else algs


def id_token_alg(settings: Settings, client: Client) -> str:
    """The ID-token alg of ``client``: its own, else the server's; for a FAPI client never RS256 (§5.4.1)."""
    alg = client.id_token_alg or settings.id_token_alg
    return ID_TOKEN_FALLBACK if alg not in ALGS and applies(settings, client) else alg


def code_ttl(settings: Settings, client: Client) -> int:
    """Seconds an authorization code of ``client`` lives: ``code_ttl``, at most 60 for a FAPI client."""
    return min(settings.code_ttl, MAX_CODE_TTL) if applies(settings, client) else settings.code_ttl


def requires_par(settings: Settings, client: Client) -> bool:
    """§5.3.2.2: a FAPI client's authorization requests are pushed first."""
    return applies(settings, client)


def rotates_refresh(settings: Settings, client: Client) -> bool:
    """Whether a refresh rotates this client's refresh token (§5.3.2.1: not a FAPI client's, unless
    ``KEYTURN_FAPI2_REFRESH_ROTATION``)."""
    return settings.fapi2_refresh_rotation or not applies(settings, client)


def refresh_grace(settings: Settings, client: Client) -> int:
    """The reuse grace window of a refresh of ``client``: a rotated FAPI client's is at least 10 s, so a retry
    with the previous refresh token succeeds (the earlier drafts' condition for rotation)."""
    grace = settings.refresh_reuse_grace
    return max(grace, MIN_REFRESH_GRACE) if applies(settings, client) else grace
