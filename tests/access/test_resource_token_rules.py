"""Issue 9.2, 9.12, 9.13: what Keyturn's own resource endpoints accept as an access token.

One verifier (keyturn.core.jose) for the management API, forward-auth, the decision endpoint,
userinfo, introspection and keyturn.rs: ``typ`` at+jwt, exact ``iss``, the configured audience in
``aud``, ``exp`` exact, ``nbf``/``iat`` no further in the future than the clock leeway (RFC 9068 §4,
RFC 8725 §3); no duplicate JOSE members (RFC 7515 §5.2); RFC 6750 §3.1 challenges.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import jwt
import pytest

from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_raw(ctx: Any, header_json: str, payload_json: str) -> str:
    """A JWS over exact JSON texts (so duplicate members survive), signed with our real key."""
    key = ctx.keys.signing_key(ctx.settings.access_token_alg)
    signing_input = f"{_b64(header_json.encode())}.{_b64(payload_json.encode())}"
    sig = jwt.get_algorithm_by_name(key.alg).sign(signing_input.encode(), key.private)
    return f"{signing_input}.{_b64(sig)}"


def user_claims(ctx: Any, user_id: str, **over: Any) -> dict[str, Any]:
    now = int(ctx.clock())
    claims = {"iss": ctx.settings.issuer, "sub": user_id, "aud": ctx.settings.token_audience, "exp": now + 600,
              "iat": now, "nbf": now, "jti": uuid.uuid4().hex, "client_id": OPERATOR_CLIENT_ID,
              "scope": "openid", "kind": "user"}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def signed(ctx: Any, claims: dict[str, Any], typ: str = "at+jwt") -> str:
    key = ctx.keys.signing_key(ctx.settings.access_token_alg)
    header = {"alg": key.alg, "kid": key.kid, "typ": typ}
    return sign_raw(ctx, json.dumps(header), json.dumps(claims))


async def _accepted_everywhere(client: Any, token: str, other_cred: Any) -> list[bool]:
    """Is the token accepted by each of Keyturn's resource sides?"""
    auth = {"Authorization": f"Bearer {token}"}
    results = [
        (await client.get("/api/account-memberships", headers=auth)).status_code == 200,
        (await client.get("/auth/forward", headers=auth)).status_code == 200,
        (await client.post("/api/authorize", json={"permission": "accounts:read"}, headers=auth)).status_code
        == 200,
        (await client.get("/userinfo", headers=auth)).status_code == 200,
        (await client.post("/introspect", data={"token": token}, auth=other_cred.basic)).json()["active"],
    ]
    return results


async def test_a_well_formed_token_is_accepted_by_every_resource_side(client, ctx, make_user, make_credential):
    user, other = await make_user(), await make_credential()
    assert await _accepted_everywhere(client, signed(ctx, user_claims(ctx, user.id)), other) == [True] * 5


BAD_CLAIMS: dict[str, dict[str, Any]] = {
    "foreign audience": {"aud": "https://reporting.example"},
    "foreign audience in a list": {"aud": ["https://reporting.example", "https://other.example"]},
    "missing audience": {"aud": None},
    "wrong issuer": {"iss": "https://evil.example"},
    "issued in the future beyond the leeway": {"iat": "future+11"},
    "not valid until beyond the leeway": {"nbf": "future+11"},
    "expired": {"exp": "past"},
    "exp not a number": {"exp": "soon"},
}


@pytest.mark.parametrize("case", sorted(BAD_CLAIMS))
async def test_resource_endpoints_check_audience_issuer_and_times(client, ctx, make_user, make_credential, case):
    user, other = await make_user(), await make_credential()
    now = int(ctx.clock())
    over = dict(BAD_CLAIMS[case])
    for k, v in list(over.items()):
        if v == "future+11":
            over[k] = now + ctx.settings.clock_leeway + 1
        elif v == "past":
            over[k] = now - 1
    token = signed(ctx, user_claims(ctx, user.id, **over))
    assert await _accepted_everywhere(client, token, other) == [False] * 5, case


async def test_a_list_audience_containing_ours_is_accepted(client, ctx, make_user, make_credential):
    user, other = await make_user(), await make_credential()
    token = signed(ctx, user_claims(ctx, user.id, aud=["https://other.example", ctx.settings.token_audience]))
    assert await _accepted_everywhere(client, token, other) == [True] * 5


async def test_times_within_the_leeway_are_accepted(client, ctx, make_user, make_credential):
    """A node whose clock is a little ahead minted it (issue 12.6): nbf/iat a few seconds ahead are fine."""
    user, other = await make_user(), await make_credential()
    ahead = int(ctx.clock()) + ctx.settings.clock_leeway - 1
    token = signed(ctx, user_claims(ctx, user.id, iat=ahead, nbf=ahead))
    assert await _accepted_everywhere(client, token, other) == [True] * 5


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT+x", None])
async def test_a_token_that_is_not_typed_at_jwt_is_refused(client, ctx, make_user, make_credential, typ):
    """R70: an ID token (typ JWT) is not an access token."""
    user, other = await make_user(), await make_credential()
    key = ctx.keys.signing_key(ctx.settings.access_token_alg)
    header: dict[str, Any] = {"alg": key.alg, "kid": key.kid}
    if typ is not None:
        header["typ"] = typ
    token = sign_raw(ctx, json.dumps(header), json.dumps(user_claims(ctx, user.id)))
    assert await _accepted_everywhere(client, token, other) == [False] * 5


DUPLICATES = {
    "header alg": ('{{"alg":"{alg}","alg":"none","kid":"{kid}","typ":"at+jwt"}}', None),
    "header kid": ('{{"alg":"{alg}","kid":"{kid}","kid":"other","typ":"at+jwt"}}', None),
    "payload sub": (None, ',"sub":"someone-else"'),
    "payload aud": (None, ',"aud":"https://reporting.example"'),
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
async def test_duplicate_jose_members_are_refused(client, ctx, make_user, make_credential, case):
    """RFC 7515 §5.2 / RFC 7519 §4: a parser that keeps the last duplicate and one that keeps the first
    would disagree about who the token names; we refuse it (keyturn.rs too: tests/rs)."""
    user, other = await make_user(), await make_credential()
    key = ctx.keys.signing_key(ctx.settings.access_token_alg)
    header_tpl, payload_extra = DUPLICATES[case]
    header = (header_tpl.format(alg=key.alg, kid=key.kid) if header_tpl
              else json.dumps({"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}))
    payload = json.dumps(user_claims(ctx, user.id))
    if payload_extra:
        payload = payload[:-1] + payload_extra + "}"
    token = sign_raw(ctx, header, payload)
    assert await _accepted_everywhere(client, token, other) == [False] * 5


async def test_no_credentials_get_a_bearer_challenge_without_an_error_code(client):
    """RFC 6750 §3.1: 'If the request lacks any authentication information, the resource server SHOULD NOT
    include an error code'."""
    for method, path in (("GET", "/api/account-memberships"), ("POST", "/api/v2/credential"),
                         ("GET", "/auth/forward"), ("GET", "/userinfo")):
        r = await client.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == 'Bearer realm="keyturn"', path


async def test_a_bad_token_gets_invalid_token(client):
    for path in ("/api/account-memberships", "/auth/forward", "/userinfo"):
        r = await client.get(path, headers={"Authorization": "Bearer not.a.token"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith('Bearer realm="keyturn", error="invalid_token"'), path


async def test_a_token_without_the_needed_scope_gets_403_insufficient_scope(client, ctx, make_user, make_org):
    owner = await make_user()
    org = await make_org(owner)
    narrow, _ = mint_access_token(ctx, sub=owner.id, client_id=OPERATOR_CLIENT_ID, scope="accounts:read",
                                  kind="user", now=ctx.clock())
    h = {"Authorization": f"Bearer {narrow}"}
    r = await client.get(f"/api/accounts/{org['id']}", headers=h)
    assert r.status_code == 200  # the scope it has
    r = await client.post(f"/api/accounts/{org['id']}/api-keys", headers=h,
                          json={"name": "k1", "role": "merchant-terminal"})
    assert r.status_code == 403 and r.json()["error"] == "INSUFFICIENT_SCOPE"
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="keyturn", error="insufficient_scope"')
    assert 'scope="api-keys:create"' in challenge
    no_openid, _ = mint_access_token(ctx, sub=owner.id, client_id=OPERATOR_CLIENT_ID, scope="email",
                                     kind="user", now=ctx.clock())
    r = await client.get("/userinfo", headers={"Authorization": f"Bearer {no_openid}"})
    assert r.status_code == 403 and 'error="insufficient_scope"' in r.headers["www-authenticate"]


WEIRD_CLAIMS = {
    "exp NaN": ('"exp": NaN', None),
    "exp Infinity": ('"exp": Infinity', None),
    "exp 1e999": ('"exp": 1e999', None),
    "exp beyond any date": ('"exp": 1000000000000000000000000000000', None),
    "iat NaN": ('"iat": NaN', None),
    "sub a number": (None, {"sub": 12345}),
    "sub with NUL": (None, {"sub": "a\u0000b"}),
    "sub with a lone surrogate": (None, {"sub": "\ud800"}),
    "client_id a list": (None, {"client_id": ["a"]}),
    "aud a number": (None, {"aud": 5}),
}


@pytest.mark.parametrize("case", sorted(WEIRD_CLAIMS))
async def test_malformed_claims_are_refused_never_a_500(client, ctx, make_user, make_credential, case):
    """Even signed with our own key: times are finite NumericDates, string claims are clean strings."""
    user, other = await make_user(), await make_credential()
    raw, over = WEIRD_CLAIMS[case]
    claims = user_claims(ctx, user.id, **(over or {}))
    payload = json.dumps(claims)
    if raw is not None:
        name = raw.split('"')[1]
        claims.pop(name)
        payload = json.dumps(claims)[:-1] + ", " + raw + "}"
    key = ctx.keys.signing_key(ctx.settings.access_token_alg)
    token = sign_raw(ctx, json.dumps({"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}), payload)
    assert await _accepted_everywhere(client, token, other) == [False] * 5, case
