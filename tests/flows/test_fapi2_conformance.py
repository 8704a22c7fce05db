"""The FAPI 2.0 Security Profile conformance suite's checks (OpenID Foundation, plan
``fapi2-security-profile-final-test-plan``, variants private_key_jwt + DPoP) that no other test here makes, each a
test named after its module, through the served front on SQLite and PostgreSQL, for a client registered the way
FAPI 2.0 wants (``fapi2_client``: private_key_jwt with its keys inline, PAR required, DPoP-bound tokens, ES256 ID
tokens). The modules other tests already cover are listed in docs/fapi2.md ("The conformance modules")."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.oidc.metadata import parse
from keyturn.services.tokens import mint_access_token
from tests.assertion_keys import KeyPair, form
from tests.conftest import ISSUER, Clock
from tests.dpop_keys import DPoPKey
from tests.oidc.helpers import REDIRECT, login, pkce_pair, query_of

PAR, TOKEN, USERINFO = ISSUER + "/par", ISSUER + "/token", ISSUER + "/userinfo"


def fapi2_metadata(keys: KeyPair, **extra: Any) -> dict[str, Any]:
    """The one place listing a FAPI 2.0 client's registration (the metadata ``keyturn clients create`` sends)."""
    return {"name": "FAPI 2.0 app", "redirect_uris": [REDIRECT], "first_party": True, "scope": "openid email",
            "id_token_signed_response_alg": "ES256", "require_pushed_authorization_requests": True, "fapi2": True,
            "dpop_bound_access_tokens": True, "token_endpoint_auth_method": "private_key_jwt", "jwks": keys.jwks,
            **extra}


async def fapi2_client(ctx: Any, keys: KeyPair, **extra: Any) -> str:
    issued = await oidc_clients.create_from(ctx, parse(fapi2_metadata(keys, **extra), dynamic=False))
    return issued.record.client_id


@dataclass
class Fapi2:
    """One FAPI 2.0 client and its DPoP key, talking to the front the way openid-client does
    (tests/js/fapi2/fapi2_flow.mjs)."""

    client: httpx.AsyncClient
    ctx: Any
    clock: Clock
    keys: KeyPair = field(default_factory=lambda: KeyPair("ES256", kid="fapi2-1"))
    dpop: DPoPKey = field(default_factory=lambda: DPoPKey("ES256"))
    client_id: str = ""

    def assertion(self, **claims: Any) -> dict[str, str]:
        return form(self.client_id, self.keys.assertion(self.client_id, now=self.clock.now, **claims))

    def proof(self, method: str, url: str, **kw: Any) -> dict[str, str]:
        return {"DPoP": self.dpop.proof(method, url, iat=kw.pop("iat", self.clock.now), **kw)}

    async def push(self, challenge: str, auth: dict[str, str] | None = None,
                   extra: dict[str, str | None] | None = None) -> httpx.Response:
        body: dict[str, str | None] = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT,
            "scope": "openid email", "state": "fapi-state", "nonce": "fapi-nonce", "code_challenge": challenge,
            "code_challenge_method": "S256", **(extra or {})}
        data = {k: v for k, v in body.items() if v is not None}
        return await self.client.post("/par", data={**data, **(self.assertion() if auth is None else auth)})

    async def code(self, user: Any, **extra: str | None) -> tuple[dict[str, str], str]:
        """PAR → /authorize with client_id and request_uri alone → the hosted login → (callback query, verifier)."""
        verifier, challenge = pkce_pair()
        r = await self.push(challenge, extra=extra)
        assert r.status_code == 201, r.text
        r = await self.client.get("/authorize", params={"client_id": self.client_id,
                                                        "request_uri": r.json()["request_uri"]})
        assert r.status_code == 303, r.text
        r = await login(self.client, r.headers["location"], user.email, user.password)
        assert r.status_code == 303 and r.headers["location"].startswith(REDIRECT + "?"), r.text
        return query_of(r.headers["location"]), verifier

    async def exchange(self, code: str, verifier: str, headers: dict[str, str] | None = None) -> httpx.Response:
        data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT,
                **self.assertion()}
        return await self.client.post("/token", data=data, headers=self.proof("POST", TOKEN) if headers is None
                                      else headers)

    async def tokens(self, user: Any) -> dict[str, Any]:
        q, verifier = await self.code(user)
        r = await self.exchange(q["code"], verifier)
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
async def fapi(client: httpx.AsyncClient, ctx: Any, clock: Clock) -> Fapi2:
    made = Fapi2(client, ctx, clock)
    made.client_id = await fapi2_client(ctx, made.keys)
    return made


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def test_fapi2_security_profile_final_happy_flow(fapi: Fapi2, ctx: Any, make_user: Any) -> None:
    """State and nonce carried, iss in the authorization response (RFC 9207), a DPoP-bound token, an ES256 ID
    token, userinfo with DPoP, a refresh with DPoP."""
    user = await make_user()
    q, verifier = await fapi.code(user)
    assert q["state"] == "fapi-state" and q["iss"] == ISSUER and set(q) == {"code", "state", "iss"}
    r = await fapi.exchange(q["code"], verifier)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP" and _claims(body["access_token"])["cnf"] == {"jkt": fapi.dpop.jkt}
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "ES256"
    id_token = _claims(body["id_token"])
    assert id_token["nonce"] == "fapi-nonce" and id_token["aud"] == fapi.client_id and id_token["iss"] == ISSUER
    access = body["access_token"]
    r = await fapi.client.get("/userinfo", headers={"Authorization": f"DPoP {access}",
                                                    **fapi.proof("GET", USERINFO, token=access)})
    assert r.status_code == 200 and r.json()["sub"] == user.id, r.text
    r = await fapi.client.post("/token", headers=fapi.proof("POST", TOKEN), data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], **fapi.assertion()})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP" and _claims(r.json()["access_token"])["cnf"] == {"jkt": fapi.dpop.jkt}


def _tamper(assertion: str) -> str:
    head, body, sig = assertion.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[-1] ^= 1
    return f"{head}.{body}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _unsecured(client_id: str, now: float) -> str:
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "iat": int(now), "exp": int(now) + 60, "jti": "n"}
    return f"{_b64({'alg': 'none'})}.{_b64(claims)}."


# fapi2-security-profile-final-ensure-invalid-client-assertions-fail: each case at the first endpoint that
# authenticates the client (/par).
INVALID_ASSERTIONS: dict[str, Callable[[Fapi2], dict[str, str]]] = {
    "no client assertion": lambda f: {"client_id": f.client_id},
    "client_assertion_type missing": lambda f: {k: v for k, v in f.assertion().items()
                                                if k != "client_assertion_type"},
    "client_assertion_type wrong": lambda f: {**f.assertion(),
                                              "client_assertion_type": "urn:ietf:params:oauth:other"},
    "sub missing": lambda f: f.assertion(sub=None),
    "sub wrong": lambda f: f.assertion(sub="someone-else"),
    "iss missing": lambda f: f.assertion(iss=None),
    "iss not the client_id": lambda f: f.assertion(iss="someone-else"),
    "aud missing": lambda f: f.assertion(aud=None),
    "aud an unrelated URL": lambda f: f.assertion(aud="https://other.example"),
    "aud the PAR endpoint URL": lambda f: f.assertion(aud=PAR),
    "aud the token endpoint URL": lambda f: f.assertion(aud=TOKEN),
    "aud an array holding the issuer": lambda f: f.assertion(aud=[ISSUER, "https://other.example"]),
    "exp 5 minutes in the past": lambda f: f.assertion(exp=int(f.clock.now) - 300, iat=int(f.clock.now) - 360),
    "iat and nbf over 60 seconds in the future": lambda f: f.assertion(
        iat=int(f.clock.now) + 70, nbf=int(f.clock.now) + 70, exp=int(f.clock.now) + 130),
    "signed with RS256": lambda f: form(f.client_id, KeyPair("RS256", kid=f.keys.kid).assertion(
        f.client_id, now=f.clock.now)),
    "alg none": lambda f: form(f.client_id, _unsecured(f.client_id, f.clock.now)),
    "invalid signature": lambda f: form(f.client_id, _tamper(f.keys.assertion(f.client_id, now=f.clock.now))),
    "signed by a key that is not the client's": lambda f: form(f.client_id, KeyPair("ES256", kid=f.keys.kid)
                                                                .assertion(f.client_id, now=f.clock.now)),
}


@pytest.mark.parametrize("case", list(INVALID_ASSERTIONS))
async def test_fapi2_security_profile_final_ensure_invalid_client_assertions_fail(fapi: Fapi2, case: str) -> None:
    r = await fapi.push(pkce_pair()[1], auth=INVALID_ASSERTIONS[case](fapi))
    # the module accepts 400 or 401 with invalid_client or invalid_request; Keyturn answers each the same way
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    ok = await fapi.push(pkce_pair()[1])  # a valid assertion still works: the refusal was the assertion's
    assert ok.status_code == 201, ok.text


async def test_fapi2_security_profile_final_ensure_client_assertion_iat_8_seconds_ahead_is_accepted(
        fapi: Fapi2) -> None:
    """The module's 'should be accepted' case: iat and nbf 8 s ahead (clock skew within the leeway)."""
    now = int(fapi.clock.now)
    r = await fapi.push(pkce_pair()[1], auth=fapi.assertion(iat=now + 8, nbf=now + 8, exp=now + 60))
    assert r.status_code == 201, r.text


async def test_replayed_client_assertion_at_par_then_at_the_token_endpoint(fapi: Fapi2, make_user: Any) -> None:
    """RFC 7523 §3 (jti) and FAPI 2.0 §5.3.2.1: an assertion used at /par is spent there, /token included."""
    auth = fapi.assertion()
    assert (await fapi.push(pkce_pair()[1], auth=auth)).status_code == 201
    again = await fapi.push(pkce_pair()[1], auth=auth)
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    user = await make_user()
    q, verifier = await fapi.code(user)
    r = await fapi.client.post("/token", headers=fapi.proof("POST", TOKEN), data={
        "grant_type": "authorization_code", "code": q["code"], "code_verifier": verifier, "redirect_uri": REDIRECT,
        **auth})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert (await fapi.exchange(q["code"], verifier)).status_code == 200  # the refusal did not spend the code


async def test_fapi2_security_profile_final_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails(
        fapi: Fapi2, make_user: Any) -> None:
    """At the token endpoint, with wrong aud and RS256 too; none of them spends the code."""
    user = await make_user()
    q, verifier = await fapi.code(user)
    now = int(fapi.clock.now)
    for auth in (fapi.assertion(exp=now - 300, iat=now - 360), fapi.assertion(aud=TOKEN),
                 form(fapi.client_id, KeyPair("RS256", kid=fapi.keys.kid).assertion(fapi.client_id, now=now))):
        r = await fapi.client.post("/token", headers=fapi.proof("POST", TOKEN), data={
            "grant_type": "authorization_code", "code": q["code"], "code_verifier": verifier,
            "redirect_uri": REDIRECT, **auth})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert (await fapi.exchange(q["code"], verifier)).status_code == 200


async def test_fapi2_security_profile_final_ensure_signed_client_assertion_with_rs256_fails(
        client: httpx.AsyncClient, ctx: Any, clock: Clock) -> None:
    """A client whose key is RSA and that registered PS256 (as FAPI 2.0 allows) signs RS256 with that very key."""
    fapi = Fapi2(client, ctx, clock, keys=KeyPair("PS256", kid="rsa-1"))
    fapi.client_id = await fapi2_client(ctx, fapi.keys, token_endpoint_auth_signing_alg="PS256")
    rs256 = fapi.keys.assertion(fapi.client_id, now=clock.now, alg="RS256")
    r = await fapi.push(pkce_pair()[1], auth=form(fapi.client_id, rs256))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    assert (await fapi.push(pkce_pair()[1])).status_code == 201  # PS256, the registered alg


async def test_fapi2_security_profile_final_ensure_holder_of_key_required(fapi: Fapi2, make_user: Any) -> None:
    """A DPoP-bound client's code exchange without a proof is refused and leaves the code usable."""
    user = await make_user()
    q, verifier = await fapi.code(user)
    r = await fapi.exchange(q["code"], verifier, headers={})
    # invalid_dpop_proof (the client is registered DPoP-bound); the FAPI 2.0 switch's own rule, "neither a proof
    # nor a certificate", answers invalid_request — the module accepts either
    assert r.status_code == 400 and r.json()["error"] in ("invalid_dpop_proof", "invalid_request"), r.text
    assert (await fapi.exchange(q["code"], verifier)).status_code == 200


async def test_fapi2_security_profile_final_ensure_token_endpoint_fails_with_mismatched_dpop_jkt(
        fapi: Fapi2, make_user: Any) -> None:
    """dpop_jkt in the pushed request (RFC 9449 §10) names another key than the token request's proof."""
    other = DPoPKey("ES256")
    user = await make_user()
    q, verifier = await fapi.code(user, dpop_jkt=other.jkt)
    r = await fapi.exchange(q["code"], verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    ok = await fapi.exchange(q["code"], verifier, headers={"DPoP": other.proof("POST", TOKEN, iat=fapi.clock.now)})
    assert ok.status_code == 200 and _claims(ok.json()["access_token"])["cnf"] == {"jkt": other.jkt}, ok.text


@pytest.mark.parametrize(("offset", "status"), [(-10, 200), (10, 200), (-3600, 400), (3600, 400)])
async def test_fapi2_security_profile_final_ensure_dpopproof_with_iat_10seconds_before_and_after(
        fapi: Fapi2, make_user: Any, offset: int, status: int) -> None:
    """…-iat-10seconds-before-succeeds / -after-succeeds at the token endpoint; an hour off is refused."""
    user = await make_user()
    q, verifier = await fapi.code(user)
    r = await fapi.exchange(q["code"], verifier, headers=fapi.proof("POST", TOKEN, iat=fapi.clock.now + offset))
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["error"] == "invalid_dpop_proof"


def _proof_without(key: DPoPKey, token: str, now: float, *, header: str | None = None,
                   claim: str | None = None) -> str:
    """A proof for GET /userinfo signed as usual but lacking one header member or claim."""
    proof = key.proof("GET", USERINFO, token=token, iat=now)
    head, body, _ = proof.split(".")
    h = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    b = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    if header:
        del h[header]
    if claim:
        del b[claim]
    if header == "alg":  # no alg: nothing to sign with; the signature of the original stays
        return f"{_b64(h)}.{_b64(b)}.{proof.split('.')[2]}"
    rest = {k: v for k, v in h.items() if k != "alg"}
    if header == "typ":
        rest["typ"] = None  # PyJWT would add typ JWT
    return jwt.encode(b, key.private, algorithm=key.alg, headers=rest)


# fapi2-security-profile-final-dpop-negative-tests: each case at a resource (here /userinfo) with the bound
# token; (headers, the status expected).
DPOP_CASES: dict[str, Callable[[DPoPKey, str, float], tuple[Any, int]]] = {
    "header name in capitals": lambda k, t, n: ({"Authorization": f"DPoP {t}",
                                                 "DPOP": k.proof("GET", USERINFO, token=t, iat=n)}, 200),
    "scheme in capitals (access-token-type-header-case-sensitivity)": lambda k, t, n: (
        {"Authorization": f"DPOP {t}", "DPoP": k.proof("GET", USERINFO, token=t, iat=n)}, 200),
    "two proofs": lambda k, t, n: ([("Authorization", f"DPoP {t}"),
                                    ("DPoP", k.proof("GET", USERINFO, token=t, iat=n)),
                                    ("DPoP", k.proof("GET", USERINFO, token=t, iat=n))], 401),
    "not a well-formed JWT": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": "a.b"}, 401),
    "typ missing": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _proof_without(k, t, n, header="typ")},
                                    401),
    "alg missing": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _proof_without(k, t, n, header="alg")},
                                    401),
    "jwk missing": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _proof_without(k, t, n, header="jwk")},
                                    401),
    "jti missing": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _proof_without(k, t, n, claim="jti")},
                                    401),
    "htm missing": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _proof_without(k, t, n, claim="htm")},
                                    401),
    "htu missing": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _proof_without(k, t, n, claim="htu")},
                                    401),
    "iat missing": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _proof_without(k, t, n, claim="iat")},
                                    401),
    "ath missing": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof("GET", USERINFO, iat=n)}, 401),
    "typ invalid": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "GET", USERINFO, token=t, iat=n, header={"typ": "jwt"})}, 401),
    "alg none": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _b64(
        {"typ": "dpop+jwt", "alg": "none", "jwk": k.jwk}) + "." + _b64(
        {"jti": "x", "htm": "GET", "htu": USERINFO, "iat": int(n)}) + "."}, 401),
    "invalid signature": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": _tamper(
        k.proof("GET", USERINFO, token=t, iat=n))}, 401),
    "private key in jwk": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "GET", USERINFO, token=t, iat=n, header={"jwk": {**k.jwk, "d": "AAAA"}})}, 401),
    "htm PUT (ensure-dpop-proof-wrong-htm)": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "PUT", USERINFO, token=t, iat=n)}, 401),
    "htu with a query and fragment": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "GET", USERINFO + "?a=b#c", token=t, iat=n)}, 200),
    "htu another URL (ensure-dpop-proof-wrong-htu)": lambda k, t, n: ({"Authorization": f"DPoP {t}",
                                                                      "DPoP": k.proof("GET", ISSUER + "/token",
                                                                                      token=t, iat=n)}, 401),
    "htu scheme and host in capitals": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "GET", USERINFO.replace("http://keyturn.test", "HTTP://KEYTURN.TEST"), token=t, iat=n)}, 200),
    "htu with the default port": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "GET", USERINFO.replace("keyturn.test", "keyturn.test:80"), token=t, iat=n)}, 200),
    "iat an hour ahead": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "GET", USERINFO, token=t, iat=n + 3600)}, 401),
    "iat an hour ago": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "GET", USERINFO, token=t, iat=n - 3600)}, 401),
    "ath of another token (ensure-dpop-proof-wrong-ath)": lambda k, t, n: ({"Authorization": f"DPoP {t}",
                                                                           "DPoP": k.proof("GET", USERINFO,
                                                                                           token=t + "x", iat=n)},
                                                                          401),
    "signed with another key (bound token with another key)": lambda k, t, n: (
        {"Authorization": f"DPoP {t}", "DPoP": DPoPKey("ES256").proof("GET", USERINFO, token=t, iat=n)}, 401),
    "extra header members and claims": lambda k, t, n: ({"Authorization": f"DPoP {t}", "DPoP": k.proof(
        "GET", USERINFO, token=t, iat=n, header={"x-extra": 1}, claims={"x-extra": 1})}, 200),
    "no proof": lambda k, t, n: ({"Authorization": f"DPoP {t}"}, 401),
    "no proof, as Bearer (bound token as Bearer)": lambda k, t, n: ({"Authorization": f"Bearer {t}"}, 401),
    "a proof, as Bearer": lambda k, t, n: ({"Authorization": f"Bearer {t}",
                                            "DPoP": k.proof("GET", USERINFO, token=t, iat=n)}, 401),
}


NOT_THE_BOUND_SENDER = {"signed with another key (bound token with another key)",
                        "no proof, as Bearer (bound token as Bearer)", "a proof, as Bearer"}


@pytest.mark.parametrize("case", list(DPOP_CASES))
async def test_fapi2_security_profile_final_dpop_negative_tests(fapi: Fapi2, ctx: Any, make_user: Any,
                                                                case: str) -> None:
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=fapi.client_id, scope="openid email", kind="user",
                                 now=fapi.clock.now, jkt=fapi.dpop.jkt)
    headers, status = DPOP_CASES[case](fapi.dpop, token, fapi.clock.now)
    r = await fapi.client.get("/userinfo", headers=headers)
    assert r.status_code == status, r.text
    if status == 401:  # docs/dpop.md: the token's binding is invalid_token, the proof's faults invalid_dpop_proof
        expected = "invalid_token" if case in NOT_THE_BOUND_SENDER else "invalid_dpop_proof"
        assert r.json()["error"] == expected, r.text
        assert r.headers["www-authenticate"].startswith("DPoP ") and f'error="{expected}"' in r.headers[
            "www-authenticate"]
    ok = await fapi.client.get("/userinfo", headers={"Authorization": f"DPoP {token}",
                                                     **fapi.proof("GET", USERINFO, token=token)})
    assert ok.status_code == 200 and ok.json()["sub"] == user.id  # a correct proof still works


async def test_fapi2_security_profile_final_dpop_replayed_proof_at_a_resource(fapi: Fapi2, ctx: Any,
                                                                             make_user: Any) -> None:
    """The module's 'DPoP reuse': the same jti twice at the same resource."""
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=fapi.client_id, scope="openid email", kind="user",
                                 now=fapi.clock.now, jkt=fapi.dpop.jkt)
    headers = {"Authorization": f"DPoP {token}", **fapi.proof("GET", USERINFO, token=token)}
    assert (await fapi.client.get("/userinfo", headers=headers)).status_code == 200
    r = await fapi.client.get("/userinfo", headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof", r.text


@pytest.mark.parametrize("response_type", ["code id_token", "token", "id_token"])
async def test_fapi2_security_profile_final_ensure_response_type_code_idtoken_fails(fapi: Fapi2,
                                                                                     response_type: str) -> None:
    """…-ensure-response-type-code-idtoken-fails and …-ensure-response-type-token-fails, pushed."""
    r = await fapi.push(pkce_pair()[1], extra={"response_type": response_type})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_response_type", r.text


@pytest.mark.parametrize("left_out", ["state", "nonce"])
async def test_fapi2_security_profile_final_ensure_authorization_request_without_state_or_nonce_success(
        fapi: Fapi2, make_user: Any, left_out: str) -> None:
    """…-without-state-success / …-without-nonce-success: neither is required (PKCE protects the code); what
    was left out does not come back."""
    user = await make_user()
    q, verifier = await fapi.code(user, **{left_out: None})
    assert q["iss"] == ISSUER and (left_out in q) is False
    r = await fapi.exchange(q["code"], verifier)
    assert r.status_code == 200, r.text
    id_token = _claims(r.json()["id_token"])
    assert ("nonce" in id_token) is (left_out != "nonce")


async def test_fapi2_security_profile_final_ensure_redirect_uri_in_authorization_request(fapi: Fapi2) -> None:
    r = await fapi.push(pkce_pair()[1], extra={"redirect_uri": None})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text


async def test_fapi2_security_profile_final_ensure_token_endpoint_fails_with_mismatched_dpop_proof_jkt(
        fapi: Fapi2, make_user: Any) -> None:
    """The pushed request carried a proof of one key; the token request a proof of another."""
    user = await make_user()
    verifier, challenge = pkce_pair()
    r = await fapi.client.post("/par", headers=fapi.proof("POST", PAR), data={
        "response_type": "code", "client_id": fapi.client_id, "redirect_uri": REDIRECT, "scope": "openid email",
        "code_challenge": challenge, "code_challenge_method": "S256", **fapi.assertion()})
    assert r.status_code == 201, r.text
    r = await fapi.client.get("/authorize", params={"client_id": fapi.client_id,
                                                    "request_uri": r.json()["request_uri"]})
    r = await login(fapi.client, r.headers["location"], user.email, user.password)
    code = query_of(r.headers["location"])["code"]
    other = DPoPKey("ES256")
    r = await fapi.exchange(code, verifier, headers={"DPoP": other.proof("POST", TOKEN, iat=fapi.clock.now)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
