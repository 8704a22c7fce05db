"""A client library nobody here wrote: Authlib's OAuth2Session runs code + PKCE + refresh against a live server."""

from __future__ import annotations

import re
import ssl

import httpx
import jwt
import pytest
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

pytestmark = pytest.mark.server
REDIRECT = "http://127.0.0.1:18399/callback"
PASSWORD = "correct horse battery staple"


def _browser_login(url: str, username: str, verify: ssl.SSLContext | bool = True) -> str:
    """What a person does in a browser: follow to the login page, submit it, return the callback URL."""
    with httpx.Client(follow_redirects=False, timeout=10, verify=verify) as browser:
        r = browser.get(url)
        assert r.status_code == 303, r.text
        page = browser.get(str(r.url.join(r.headers["location"])))
        assert page.status_code == 200
        action = re.search(r'action="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = browser.post(str(page.url.join(action)), data={"csrf": csrf, "username": username, "password": PASSWORD})
        assert r.status_code == 303, r.text
        return r.headers["location"]


def test_authlib_code_flow_with_pkce_and_refresh(live_server):
    live_server.cli("users", "create", "--email", "lib@example.test", "--password", PASSWORD,
                    "--given-name", "Lib", "--verified")
    rp = live_server.cli("clients", "create", "--name", "Authlib app", "--public", "--first-party",
                         "--redirect-uri", "http://127.0.0.1/callback")
    meta = httpx.get(f"{live_server.url}/.well-known/openid-configuration").json()
    session = OAuth2Session(rp["client_id"], redirect_uri=REDIRECT, scope="openid email profile",
                            code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(64)
    url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                  nonce="authlib-nonce")
    callback = _browser_login(url, "lib@example.test")
    assert callback.startswith(REDIRECT)
    assert httpx.URL(callback).params["iss"] == live_server.url  # RFC 9207
    token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["refresh_token"]

    kid = jwt.get_unverified_header(token["id_token"])["kid"]
    jwk = next(k for k in httpx.get(meta["jwks_uri"]).json()["keys"] if k["kid"] == kid)
    claims = jwt.decode(token["id_token"], jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=rp["client_id"],
                        issuer=meta["issuer"])
    assert claims["nonce"] == "authlib-nonce"
    assert claims["email"] == "lib@example.test" and claims["given_name"] == "Lib" and claims["email_verified"]

    info = session.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"]

    refreshed = session.refresh_token(meta["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    # The replayed (rotated-away) refresh token is refused and revokes the family (RFC 9700 §4.14.2).
    replay = httpx.post(meta["token_endpoint"], data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                                      "refresh_token": token["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    after = httpx.post(meta["token_endpoint"], data={"grant_type": "refresh_token", "client_id": rp["client_id"],
                                                     "refresh_token": refreshed["refresh_token"]})
    assert after.status_code == 400
