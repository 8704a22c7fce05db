"""RFC 6749 §4.1.3: authorization code exchange with PKCE (RFC 7636), OIDC Core §3.1.3.

Codes are redeemed in group commit (services/oidc/codes.py, which owns the transaction, single use
and replay). This module checks the token request against the code's authorization request
(``check``) and mints the tokens (``finish``); a refusal in either consumes nothing.

redirect_uri (RFC 6749 §4.1.3): when the authorization request carried one, the token request
must carry the identical string (missing: ``invalid_request``, RFC 6749 §5.2 "missing a required
parameter"; different: ``invalid_grant``). When it carried none (allowed only with exactly one
registered URI), the token request may omit it, and one that is sent must equal the URI the code
was issued for.
"""

from __future__ import annotations

from typing import Any

from keyturn.core import pkce
from keyturn.core.errors import InvalidDPoPProof, InvalidGrant, InvalidRequest
from keyturn.core.jose import same_thumbprint
from keyturn.core.models import GRANT_AUTHORIZATION_CODE, AuthorizationCode
from keyturn.grants.base import AUTH_PARAMS, require_grant_type
from keyturn.services.client_auth import TokenRequest
from keyturn.services.context import Services
from keyturn.services.oidc.claims import mint_id_token
from keyturn.services.oidc.codes import Redeemed, redeem_code
from keyturn.services.tokens import mint_access_token

GRANT_TYPE = GRANT_AUTHORIZATION_CODE
PARAMS = AUTH_PARAMS | {"code", "redirect_uri", "code_verifier"}


def check_redirect_uri(sent: str | None, code: AuthorizationCode, registered: tuple[str, ...]) -> None:
    """RFC 6749 §4.1.3 and §10.6: the token request's redirect_uri against the code's authorization request."""
    required = code.redirect_uri_sent
    if required is None:
        # A code stored before migration 0002 (or by an older node mid-deploy): the rule it was issued under.
        required = len(registered) != 1
    if sent is None:
        if required:
            raise InvalidRequest("redirect_uri is required: the authorization request had one")
        return
    if sent != code.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")


def check_verifier(verifier: str | None, code: AuthorizationCode) -> None:
    """RFC 7636 §4.6: with a code_challenge the verifier is required and must match; RFC 9700 §4.8.2: none without."""
    if code.code_challenge:
        if verifier is None:
            raise InvalidGrant("code_verifier is required")
        if not pkce.verifier_matches(verifier, code.code_challenge, code.code_challenge_method or "plain"):
            raise InvalidGrant("code_verifier does not match the code_challenge")
    elif verifier is not None:
        raise InvalidRequest("code_verifier sent but no code_challenge was")


def check_dpop_jkt(jkt: str | None, code: AuthorizationCode) -> None:
    """RFC 9449 §10: a code requested with ``dpop_jkt`` is exchanged only with a proof of that key."""
    if code.dpop_jkt is None:
        return
    if jkt is None:
        raise InvalidDPoPProof("the authorization request named a DPoP key (dpop_jkt): send a proof of it")
    if not same_thumbprint(jkt, code.dpop_jkt):
        raise InvalidDPoPProof("the DPoP proof's key is not the authorization request's dpop_jkt")


async def handle(ctx: Services, req: TokenRequest) -> dict[str, Any]:
    client = req.client
    require_grant_type(client, GRANT_TYPE)
    code = req.params.get("code")
    if not code:
        raise InvalidRequest("code is required")
    verifier = req.params.get("code_verifier")
    if verifier is not None and not pkce.valid_verifier(verifier):
        raise InvalidRequest("code_verifier must be 43-128 characters of [A-Za-z0-9-._~]")  # RFC 7636 §4.1

    def check(issued: AuthorizationCode) -> None:  # runs in the batch, before the code is consumed
        check_redirect_uri(req.params.get("redirect_uri"), issued, client.redirect_uris)
        check_verifier(verifier, issued)
        check_dpop_jkt(req.dpop_jkt, issued)

    def finish(redeemed: Redeemed) -> dict[str, Any]:  # runs in the batch, before the code is consumed
        grant, user = redeemed.issued.grant, redeemed.user
        access, expires_in = mint_access_token(ctx, sub=user.id, client_id=client.client_id, scope=grant.scope,
                                               kind="user", now=req.now, grant_id=grant.id, jkt=req.dpop_jkt,
                                               x5t=req.x5t)
        body: dict[str, Any] = {"access_token": access, "token_type": req.token_type, "expires_in": expires_in,
                                "scope": grant.scope}
        if "openid" in grant.scope.split():
            body["id_token"] = mint_id_token(ctx, client=client, user=user, scope=tuple(grant.scope.split()),
                                             now=req.now, auth_time=grant.auth_time, nonce=redeemed.nonce,
                                             access_token=access)
        if redeemed.issued.refresh_token:
            body["refresh_token"] = redeemed.issued.refresh_token
        return body

    body: dict[str, Any] = await redeem_code(ctx, code=code, client=client, now=req.now, ip=req.ip, check=check,
                                             finish=finish, dpop_jkt=req.dpop_jkt,
                                             mtls_x5t=req.x5t)
    return body
