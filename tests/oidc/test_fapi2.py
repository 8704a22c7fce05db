"""The FAPI 2.0 profile switch through the front (docs/fapi2.md, keyturn.services.fapi): a client registered with
``fapi2`` (or every OIDC client under ``KEYTURN_FAPI2``) runs PAR → sign-in → code → token with private_key_jwt
and DPoP (or mTLS), its refresh token is not rotated, and everything else the profile forbids is refused, at
registration (INVALID_CLIENT_METADATA naming the field) and at run time (the protocol's error)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from keyturn.cli import app as cli_app
from keyturn.core.models import Client
from keyturn.core.secrets import new_client_id
from keyturn.services.context import Services
from keyturn.services.oidc import clients as oidc_clients
from keyturn.services.oidc.metadata import parse
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from keyturn.storage import clients as clients_repo
from tests.assertion_keys import KeyPair, form
from tests.certs import Issued, authority, issue
from tests.conftest import ISSUER, Clock
from tests.dpop_keys import DPoPKey
from tests.oidc.helpers import REDIRECT, consent, login, pkce_pair, query_of

HEADER = "X-SSL-Client-Cert"
DN = "CN=fapi-1,O=Keyturn Tests,C=NZ"
TOKEN_URL = ISSUER + "/token"


@pytest.fixture
async def admin(ctx: Services, make_user: Any) -> dict[str, str]:
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    return {"Authorization": f"Bearer {token}"}


async def _register(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> httpx.Response:
    base: dict[str, Any] = {"name": "Bank app", "redirect_uris": [REDIRECT], "first_party": True,
                            "scope": "openid email"}
    return await client.post("/api/oidc-clients", headers=admin, json={**base, **body})


async def _insert(ctx: Services, **body: Any) -> tuple[Client, str | None]:
    """A client registered before ``KEYTURN_FAPI2`` was turned on (its metadata not held to the profile), and
    its secret if it has one."""
    meta = parse({"name": "Old app", "redirect_uris": [REDIRECT], "first_party": True, "scope": "openid email",
                  **body}, dynamic=False)
    record, secret = oidc_clients.build(meta, client_id=new_client_id(), now=ctx.clock())
    async with ctx.engine.begin() as conn:
        await clients_repo.insert(conn, record)
    return record, secret


async def _code(client: httpx.AsyncClient, cid: str, user: Any, auth: dict[str, str]) -> tuple[str, str]:
    """PAR (authenticated with ``auth``) → /authorize with the request_uri → sign-in: (code, verifier)."""
    verifier, challenge = pkce_pair()
    r = await client.post("/par", data={
        "response_type": "code", "client_id": cid, "redirect_uri": REDIRECT, "scope": "openid email",
        "state": "s-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256", **auth})
    assert r.status_code == 201, r.text
    r = await client.get("/authorize", params={"client_id": cid, "request_uri": r.json()["request_uri"]})
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    if location.startswith("/interaction/"):
        r = await login(client, location, user.email, user.password)
        location = r.headers["location"]
    if location.startswith("/interaction/"):
        location = (await consent(client, location)).headers["location"]
    q = query_of(location)
    assert q["iss"] == ISSUER and q["state"] == "s-1", q  # RFC 9207: iss in the authorization response
    return q["code"], verifier


def _exchange(cid: str, code: str, verifier: str, auth: dict[str, str]) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            **auth}


async def test_a_fapi_client_runs_par_code_and_token_with_private_key_jwt_and_dpop(
        client: httpx.AsyncClient, ctx: Services, admin: dict[str, str], make_user: Any) -> None:
    key, dpop = KeyPair("PS256"), DPoPKey("ES256")
    r = await _register(client, admin, token_endpoint_auth_method="private_key_jwt", jwks=key.jwks, fapi2=True)
    assert r.status_code == 201, r.text
    rp = r.json()["data"]
    assert rp["fapi2"] is True and rp["require_pushed_authorization_requests"] is True
    cid = rp["client_id"]
    user = await make_user()

    def auth() -> dict[str, str]:
        return form(cid, key.assertion(cid, now=ctx.clock()))

    code, verifier = await _code(client, cid, user, auth())
    r = await client.post("/token", data=_exchange(cid, code, verifier, auth()),
                          headers={"DPoP": dpop.proof("POST", TOKEN_URL)})
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "DPoP"
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["cnf"] == {"jkt": dpop.jkt}
    # no alg registered and the server's default is RS256: a FAPI client's ID token is ES256 (§5.4.1)
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "ES256"
    refresh = tokens["refresh_token"]

    async def renew() -> httpx.Response:
        return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh, **auth()},
                                  headers={"DPoP": dpop.proof("POST", TOKEN_URL)})

    # not rotated: a new access token, no new refresh token, and the same one works again, also concurrently
    for _ in range(2):
        r = await renew()
        assert r.status_code == 200, r.text
        assert "refresh_token" not in r.json() and r.json()["token_type"] == "DPoP"
    answers = await asyncio.gather(*(renew() for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    # the plain authorization request of a FAPI client: it must push (redirected, with iss)
    r = await client.get("/authorize", params={"response_type": "code", "client_id": cid, "redirect_uri": REDIRECT,
                                               "scope": "openid", "code_challenge": pkce_pair()[1],
                                               "code_challenge_method": "S256"})
    assert r.status_code == 303 and query_of(r.headers["location"])["error"] == "invalid_request"
    # revocation of the refresh token ends its family
    r = await client.post("/revoke", data={"token": refresh, "token_type_hint": "refresh_token", **auth()})
    assert r.status_code == 200, r.text
    r = await renew()
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_a_fapi_token_request_needs_a_dpop_proof_or_a_certificate(client, ctx, admin, make_user):
    key = KeyPair("ES256")
    rp = (await _register(client, admin, token_endpoint_auth_method="private_key_jwt", jwks=key.jwks,
                          id_token_signed_response_alg="EdDSA", fapi2=True)).json()["data"]
    cid, user = rp["client_id"], await make_user()

    def auth() -> dict[str, str]:
        return form(cid, key.assertion(cid, now=ctx.clock()))

    code, verifier = await _code(client, cid, user, auth())
    r = await client.post("/token", data=_exchange(cid, code, verifier, auth()))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "sender-constrained" in r.json()["error_description"]
    # a proof signed ES384 (allowed by KEYTURN_DPOP_SIGNING_ALGS, not by FAPI 2.0)
    r = await client.post("/token", data=_exchange(cid, code, verifier, auth()),
                          headers={"DPoP": DPoPKey("ES384").proof("POST", TOKEN_URL)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    r = await client.post("/token", data=_exchange(cid, code, verifier, auth()),
                          headers={"DPoP": DPoPKey("EdDSA").proof("POST", TOKEN_URL)})
    assert r.status_code == 200, r.text  # nothing refused before consumed the code
    assert jwt.get_unverified_header(r.json()["id_token"])["alg"] == "EdDSA"
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"],
                                          **auth()})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


@pytest.mark.parametrize(("body", "named"), [
    ({"type": "public"}, "token_endpoint_auth_method"),
    ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
    ({"type": "confidential"}, "token_endpoint_auth_method"),
    ({"token_endpoint_auth_method": "client_secret_post"}, "token_endpoint_auth_method"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": "KEYS", "id_token_signed_response_alg": "RS256"},
     "id_token_signed_response_alg"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": "KEYS", "token_endpoint_auth_signing_alg": "RS256"},
     "token_endpoint_auth_signing_alg"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": "KEYS", "token_endpoint_auth_signing_alg": "ES384"},
     "token_endpoint_auth_signing_alg"),
])
async def test_registration_refuses_what_fapi_does_not_allow(client, admin, body, named):
    if body.get("jwks") == "KEYS":
        body = {**body, "jwks": {"keys": [KeyPair("RS256").jwk, KeyPair("ES384", kid="k2").jwk]}}
    r = await _register(client, admin, fapi2=True, **body)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "INVALID_CLIENT_METADATA" and named in r.json()["message"], r.text
    assert (await _register(client, admin, **body)).status_code == 201  # the same without the profile


def test_the_cli_registers_a_fapi_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": ISSUER, "KEYTURN_SETTINGS_FILE": "",
                        "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}.items():
        monkeypatch.setenv(name, value)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(KeyPair("ES256").jwks))
    runner = CliRunner()
    args = ["clients", "create", "--name", "Bank app", "--redirect-uri", REDIRECT, "--scope", "openid accounts"]
    on = runner.invoke(cli_app, [*args, "--confidential", "--id-token-alg", "ES256", "--token-endpoint-auth-method",
                                 "private_key_jwt", "--jwks", str(jwks), "--fapi2", "--json"])
    assert on.exit_code == 0, on.output
    out = json.loads(on.stdout)
    assert out["fapi2"] is True and out["require_pushed_authorization_requests"] is True
    assert "client_secret" not in out
    mtls = runner.invoke(cli_app, [*args, "--confidential", "--tls-client-auth-subject-dn", DN, "--fapi2"])
    assert mtls.exit_code == 0 and json.loads(mtls.stdout)["token_endpoint_auth_method"] == "tls_client_auth"
    for refused in (["--public"], ["--confidential"], ["--confidential", "--id-token-alg", "RS256",
                                                       "--tls-client-auth-subject-dn", DN]):
        r = runner.invoke(cli_app, [*args, *refused, "--fapi2"])
        assert r.exit_code != 0 and "FAPI 2.0" in r.output, r.output


@pytest.fixture(scope="module")
def cert() -> Issued:
    return issue(authority(), "fapi-1")


class TestServerDefault:
    """``KEYTURN_FAPI2``: every OIDC client is held to the profile, also those registered before."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"fapi2": True, "code_ttl": 120, "allow_plain_pkce": True}

    async def test_a_secret_client_is_refused_at_every_endpoint(self, client, ctx, admin):
        old, secret = await _insert(ctx, type="confidential")
        assert secret is not None
        assert (await _register(client, admin, type="confidential")).status_code == 400
        data = {"response_type": "code", "client_id": old.client_id, "redirect_uri": REDIRECT, "scope": "openid",
                "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}
        # the right secret, posted or in Basic: refused, saying why
        for path, body in (("/par", data), ("/token", {"grant_type": "refresh_token", "refresh_token": "x"}),
                           ("/introspect", {"token": "x"}), ("/revoke", {"token": "x"})):
            r = await client.post(path, data={**body, "client_id": old.client_id, "client_secret": secret})
            assert r.status_code == 401 and r.json()["error"] == "invalid_client", (path, r.text)
            assert "FAPI 2.0" in r.json()["error_description"]
            r = await client.post(path, data=body, auth=(old.client_id, secret))
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic"), (path, r.text)

    async def test_a_public_client_cannot_push_nor_get_tokens(self, client, ctx):
        old, _ = await _insert(ctx, type="public")
        verifier, challenge = pkce_pair()
        r = await client.post("/par", data={"response_type": "code", "client_id": old.client_id,
                                            "redirect_uri": REDIRECT, "scope": "openid", "code_challenge": challenge,
                                            "code_challenge_method": "S256"})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        assert "FAPI 2.0" in r.json()["error_description"]
        r = await client.get("/authorize", params={"response_type": "code", "client_id": old.client_id,
                                                   "redirect_uri": REDIRECT, "scope": "openid",
                                                   "code_challenge": challenge, "code_challenge_method": "S256"})
        assert r.status_code == 303 and query_of(r.headers["location"])["error"] == "invalid_request"
        r = await client.post("/token", data={"grant_type": "authorization_code", "client_id": old.client_id,
                                              "code": "x", "code_verifier": verifier, "redirect_uri": REDIRECT})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"

    async def test_an_old_key_client_codes_live_60_s_and_rs256_assertions_are_refused(
            self, client, ctx, clock: Clock, make_user):
        key, rs = KeyPair("ES256"), KeyPair("RS256", kid="rs")
        old, _ = await _insert(ctx, token_endpoint_auth_method="private_key_jwt",
                            jwks={"keys": [key.jwk, rs.jwk]})
        cid, user, dpop = old.client_id, await make_user(), DPoPKey("PS256")
        r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x",
                                              **form(cid, rs.assertion(cid, now=ctx.clock()))})
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        code, verifier = await _code(client, cid, user, form(cid, key.assertion(cid, now=ctx.clock())))
        clock.advance(75)  # KEYTURN_CODE_TTL is 120: a FAPI client's code lives 60 s (+ the 10 s clock leeway)
        r = await client.post("/token", data=_exchange(cid, code, verifier,
                                                       form(cid, key.assertion(cid, now=ctx.clock()))),
                              headers={"DPoP": dpop.proof("POST", TOKEN_URL, iat=ctx.clock())})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

    async def test_the_demo_starts_without_its_public_client_and_seed_000_keeps_its_secret(self, client, ctx):
        from keyturn.services.demo import create_demo_data
        data = await create_demo_data(ctx, ISSUER)
        assert "FAPI" in data["oidc_client"]["skipped"]
        r = await client.post("/api/v2/access/token", json={"grant_type": "client_credentials", **data["credential"]})
        assert r.status_code == 200, r.text  # seed 000's credentials are not held to the server default

    async def test_discovery_advertises_only_what_fapi_allows(self, client):
        meta = (await client.get("/.well-known/openid-configuration")).json()
        assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
        assert meta["introspection_endpoint_auth_methods_supported"] == ["private_key_jwt"]
        assert meta["revocation_endpoint_auth_methods_supported"] == ["private_key_jwt"]
        assert meta["code_challenge_methods_supported"] == ["S256"]  # even with KEYTURN_ALLOW_PLAIN_PKCE
        assert meta["require_pushed_authorization_requests"] is True
        assert meta["authorization_response_iss_parameter_supported"] is True
        for name in ("id_token_signing_alg_values_supported", "dpop_signing_alg_values_supported",
                     "token_endpoint_auth_signing_alg_values_supported"):
            assert meta[name] and set(meta[name]) <= {"PS256", "ES256", "EdDSA"}, (name, meta[name])


class TestDynamicRegistration:
    """RFC 7591 ``/register`` under the server default: the RFC's default method (a secret) is refused."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"fapi2": True, "registration": "initial_token"}

    async def test_register_refuses_a_secret_and_takes_keys(self, client, ctx):
        from keyturn.services.oidc import registration
        issued = await registration.issue_initial_token(ctx, expires_in=None, uses=None)
        bearer = {"Authorization": f"Bearer {issued.secret}"}
        body: dict[str, Any] = {"client_name": "Dyn", "redirect_uris": [REDIRECT]}
        r = await client.post("/register", json=body, headers=bearer)
        assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata"
        assert "token_endpoint_auth_method" in r.json()["error_description"]
        r = await client.post("/register", json={**body, "fapi2": True}, headers=bearer)
        assert r.status_code == 400 and "fapi2" in r.json()["error_description"]  # a Keyturn name, not RFC 7591
        key = KeyPair("ES256")
        r = await client.post("/register", json={**body, "token_endpoint_auth_method": "private_key_jwt",
                                                 "jwks": key.jwks}, headers=bearer)
        assert r.status_code == 201, r.text
        reg = r.json()
        r = await client.put(f"/register/{reg['client_id']}", headers={
            "Authorization": f"Bearer {reg['registration_access_token']}"}, json={
            "client_id": reg["client_id"], **body, "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks,
            "id_token_signed_response_alg": "RS256"})
        assert r.status_code == 400 and "id_token_signed_response_alg" in r.json()["error_description"], r.text


class TestCertificates:
    """A FAPI client authenticating with tls_client_auth gets certificate-bound tokens without DPoP."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"fapi2": True, "mtls_cert_header": HEADER, "trusted_proxies": ("127.0.0.1/32",)}

    async def test_tls_client_auth_binds_the_tokens_to_the_certificate(self, client, ctx, admin, make_user, cert):
        r = await _register(client, admin, token_endpoint_auth_method="tls_client_auth",
                            tls_client_auth_subject_dn=DN)
        assert r.status_code == 201, r.text
        cid, user, proxy = r.json()["data"]["client_id"], await make_user(), {HEADER: cert.escaped}
        meta = (await client.get("/.well-known/openid-configuration")).json()
        assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt", "tls_client_auth"]
        verifier, challenge = pkce_pair()
        r = await client.post("/par", headers=proxy, data={
            "response_type": "code", "client_id": cid, "redirect_uri": REDIRECT, "scope": "openid",
            "code_challenge": challenge, "code_challenge_method": "S256"})
        assert r.status_code == 201, r.text
        r = await client.get("/authorize", params={"client_id": cid, "request_uri": r.json()["request_uri"]})
        r = await login(client, r.headers["location"], user.email, user.password)
        code = query_of(r.headers["location"])["code"]
        r = await client.post("/token", headers=proxy, data={**_exchange(cid, code, verifier, {}), "client_id": cid})
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
        assert set(claims["cnf"]) == {"x5t#S256"} and r.json()["token_type"] == "Bearer"


class TestRotation:
    """``KEYTURN_FAPI2_REFRESH_ROTATION``: FAPI clients' refresh tokens rotate, with a retry window of 10 s."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"fapi2_refresh_rotation": True}

    async def test_rotation_with_a_retry_window(self, client, ctx, admin, make_user):
        key, dpop = KeyPair("EdDSA"), DPoPKey("ES256")
        rp = (await _register(client, admin, token_endpoint_auth_method="private_key_jwt", jwks=key.jwks,
                              fapi2=True)).json()["data"]
        cid, user = rp["client_id"], await make_user()

        def auth() -> dict[str, str]:
            return form(cid, key.assertion(cid, now=ctx.clock()))

        code, verifier = await _code(client, cid, user, auth())
        r = await client.post("/token", data=_exchange(cid, code, verifier, auth()),
                              headers={"DPoP": dpop.proof("POST", TOKEN_URL)})
        refresh = r.json()["refresh_token"]
        answers = []
        for _ in range(2):  # the second is a retry of the first: the same answer (KEYTURN_REFRESH_REUSE_GRACE 0)
            r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                                  **auth()}, headers={"DPoP": dpop.proof("POST", TOKEN_URL)})
            assert r.status_code == 200, r.text
            answers.append(r.json()["refresh_token"])
        assert answers[0] == answers[1] != refresh


class TestRefreshInPlace:
    """The non-rotating refresh: a token rotated before the client was held to the profile, another client's, an
    unknown one, a refused scope; with an idle limit, each use restarts it."""

    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"refresh_idle_ttl": 60}

    async def test_edges(self, client: httpx.AsyncClient, ctx: Services, clock: Clock, make_user: Any) -> None:
        key, dpop = KeyPair("ES256"), DPoPKey("ES256")
        rp, _ = await _insert(ctx, token_endpoint_auth_method="private_key_jwt", jwks=key.jwks)
        other, _ = await _insert(ctx, token_endpoint_auth_method="private_key_jwt", jwks=key.jwks)
        cid, user = rp.client_id, await make_user()

        def auth(who: str = cid) -> dict[str, str]:
            return form(who, key.assertion(who, now=ctx.clock()))

        async def renew(token: str, who: str = cid, **extra: str) -> httpx.Response:
            return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                                     **auth(who), **extra},
                                      headers={"DPoP": dpop.proof("POST", TOKEN_URL, iat=ctx.clock())})

        code, verifier = await _code(client, cid, user, auth())
        r = await client.post("/token", data=_exchange(cid, code, verifier, auth()),
                              headers={"DPoP": dpop.proof("POST", TOKEN_URL)})
        first = r.json()["refresh_token"]
        r = await renew(first)  # not held to the profile yet: rotated
        assert r.status_code == 200, r.text
        current = r.json()["refresh_token"]
        async with ctx.engine.begin() as conn:
            await clients_repo.update_fields(conn, cid, fapi2=True)
            await clients_repo.update_fields(conn, other.client_id, fapi2=True)
        r = await renew(first)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        for token, who, extra, error in ((current, other.client_id, {}, "invalid_grant"),
                                         ("ktrt_unknown", cid, {}, "invalid_grant"),
                                         (current, cid, {"scope": "openid profile"}, "invalid_scope")):
            r = await renew(token, who, **extra)
            assert r.status_code == 400 and r.json()["error"] == error, r.text
        for _ in range(3):  # 50 s apart, three times: each use restarts the 60 s idle limit
            clock.advance(50)
            r = await renew(current)
            assert r.status_code == 200 and "refresh_token" not in r.json(), r.text
        answers = await asyncio.gather(*(renew(current) for _ in range(4)))  # at once, each restarting the limit
        assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
        clock.advance(61)
        assert (await renew(current)).json()["error"] == "invalid_grant"
