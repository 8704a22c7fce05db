"""Helpers for the OIDC tests: register clients and walk the browser flow over the ASGI client."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from keyturn.services.oidc import clients as oidc_clients
from keyturn.wire.common import plain
from keyturn.wire.oidc_clients import ClientOut

REDIRECT = "https://app.example.test/cb"
ORIGIN = "https://app.example.test"
LOGOUT_TARGET = "https://app.example.test/bye"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def make_client(ctx: Any, **kw: Any) -> dict[str, Any]:
    """A registered relying party, as the API answers it (a dict of keyturn.wire.oidc_clients.ClientOut)."""
    kw.setdefault("name", "Test app")
    kw.setdefault("public", True)
    kw.setdefault("redirect_uris", [REDIRECT])
    kw.setdefault("post_logout_redirect_uris", [LOGOUT_TARGET])
    kw.setdefault("first_party", True)
    issued = await oidc_clients.create(ctx, **kw)
    return dict(plain(ClientOut.of(issued.record, issued.secret)))


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def authorize_params(client_id: str, challenge: str, **extra: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid",
        "state": "st-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def form_of(html: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action, html
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return action.group(1), fields


async def login(client: httpx.AsyncClient, location: str, username: str, password: str) -> httpx.Response:
    """Follow an /interaction page and submit the login form; returns the POST response."""
    page = await client.get(location)
    assert page.status_code == 200, page.text
    action, fields = form_of(page.text)
    return await client.post(action, data={**fields, "username": username, "password": password})


async def consent(client: httpx.AsyncClient, location: str, decision: str = "allow") -> httpx.Response:
    page = await client.get(location)
    assert page.status_code == 200, page.text
    action, fields = form_of(page.text)
    return await client.post(action, data={**fields, "decision": decision})


async def authorize_code(client: httpx.AsyncClient, client_id: str, user: Any, *, path: str = "/authorize",
                         **extra: str | None) -> tuple[str, str, dict[str, str]]:
    """Run authorize → login (→ consent) and return (code, verifier, callback query)."""
    verifier, challenge = pkce_pair()
    r = await client.get(path, params=authorize_params(client_id, challenge, **extra))
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    if location.startswith("/interaction/"):
        r = await login(client, location, user.email, user.password)
        assert r.status_code == 303, r.text
        location = r.headers["location"]
    if location.startswith("/interaction/"):
        r = await consent(client, location)
        assert r.status_code == 303, r.text
        location = r.headers["location"]
    q = query_of(location)
    assert "code" in q, location
    return q["code"], verifier, q


async def exchange(client: httpx.AsyncClient, client_id: str, code: str, verifier: str | None,
                   path: str = "/token", **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return await client.post(path, data=data)
