"""Scenario 6 (hooks): grants that spend a single-use value per request.

Each wrk run gets fresh values minted just before it (`Request.prepare`) and spends them with
lua/pool.lua, which stops and times the run when the pool runs dry. A hook that cannot
provision or whose check fails returns the reason, and the scenario is skipped.

- 6a, authorization code + PKCE: the bench user signs in once on the hosted login page of a
  first-party client (no consent), then codes are minted with that session; each request
  exchanges one code at POST /token. Two clients: ID tokens in the default RS256, and one that
  registered `id_token_signed_response_alg` ES256 (`auth_code_es256`; the check reads the ID
  token's header, so a server that signs RS256 anyway is skipped, not measured).
- 6b, refresh-token rotation: Keyturn's seeds come from client-credentials grants of a
  credential created with `--refresh 1d`, the peer's (REFRESH=1) from its
  `POST /bench/mint-refresh?n=N`; each answer's new refresh token is sent next, on both.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from . import peer
from .browser import Browser, MintFailed, code_of, mint_codes, s256
from .keyturn import BENCH_EMAIL, BENCH_PASSWORD, RP_REDIRECT_URI, Provisioned
from .load import Chain, CheckFailed, Request, check, has_field
from .servers import FORM, Server, basic, http_call

MAX_CODES = 15000  # bounds the minting before one run (at a few hundred codes a second)


def _headers(client_id: str, secret: str) -> dict[str, str]:
    return {"Content-Type": FORM, "Authorization": basic(client_id, secret)}


def _id_token_alg(body: str) -> str | None:
    """The `alg` of the ID token in a token response (None if there is none)."""
    try:
        header = str(json.loads(body)["id_token"]).split(".")[0]
        return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"])
    except (ValueError, KeyError, TypeError):
        return None


def authorization_code(
    server: Server, client: tuple[str, str], work: Path, id_token_alg: str, name: str = "codes"
) -> Request | str:
    """Codes of the relying party `client` (id, secret), whose ID tokens must be `id_token_alg`."""
    client_id, client_secret = client
    headers = _headers(client_id, client_secret)
    verifier = secrets.token_urlsafe(48)  # one PKCE pair for all codes: enough for a benchmark
    authorize = "/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": RP_REDIRECT_URI,
            "scope": "openid",
            "state": "bench",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
    )
    prefix = (
        urlencode({"grant_type": "authorization_code", "redirect_uri": RP_REDIRECT_URI, "code_verifier": verifier})
        + "&code="
    )
    browser = Browser(server.port)
    try:
        first = code_of(browser.sign_in(authorize, RP_REDIRECT_URI, BENCH_EMAIL, BENCH_PASSWORD))
        answer = check(
            server,
            Request("POST", "/token", headers, prefix + quote(first, safe="")),
            has_field("access_token"),
        )
    except (MintFailed, CheckFailed, OSError, http.client.HTTPException) as exc:
        return f"check failed: {exc}"
    finally:
        browser.conn.close()
    signed = _id_token_alg(answer)
    if signed != id_token_alg:
        return f"check failed: the ID token is signed {signed}, the client registered {id_token_alg}"
    rate = {"rps": 50.0}  # codes spent per second: a low first guess, updated after every run

    def prepare(conns: int, seconds: float) -> dict[str, str]:
        count = min(MAX_CODES, int(rate["rps"] * seconds * 1.25) + 2 * conns)
        t0 = time.monotonic()
        codes = mint_codes(browser, authorize, count, max_seconds=max(10.0, 2 * seconds))
        path = work / f"{name}-{server.port}.txt"
        path.write_text("\n".join(codes) + "\n")
        rate["mint_s"] = round(time.monotonic() - t0, 1)
        return {"TOKENS_FILE": str(path), "POOL_BODY": prefix}

    def observe(result: dict[str, Any]) -> None:
        if result.get("rps"):
            rate["rps"] = float(result["rps"])
        result["minted_in_s"] = rate.get("mint_s")

    return Request("POST", "/token", headers, script="pool.lua", prepare=prepare, observe=observe)


def refresh_rotation(server: Server, got: Provisioned, work: Path) -> Request | str:
    """Keyturn: seeds from client-credentials grants of the `--refresh 1d` credential."""
    if not got.refresh_client_id:
        return f"provisioning failed: {got.errors.get('refresh')}"
    headers = _headers(got.refresh_client_id, got.refresh_client_secret)

    def mint(n: int) -> list[str]:
        tokens = []
        for _ in range(n):
            status, body = http_call(server.port, "POST", "/token", headers, "grant_type=client_credentials")
            token = json.loads(body).get("refresh_token") if status == 200 else None
            if not token:
                raise CheckFailed(
                    f"POST /token grant_type=client_credentials (--refresh 1d credential) -> "
                    f"{status} {body[:400]!r}: no refresh_token"
                )
            tokens.append(str(token))
        return tokens

    return _rotation(server, headers, mint, work)


def peer_refresh_rotation(server: Server, work: Path) -> Request | str:
    """The peer started with REFRESH=1: seeds from its POST /bench/mint-refresh."""

    def mint(n: int) -> list[str]:
        try:
            return peer.mint_refresh(server.port, n)
        except RuntimeError as exc:
            raise CheckFailed(str(exc)) from exc

    return _rotation(server, _headers(peer.CLIENT_ID, peer.CLIENT_SECRET), mint, work)


def _rotation(server: Server, headers: dict[str, str], mint: Callable[[int], list[str]], work: Path) -> Request | str:
    """Spend refresh tokens, each answer's rotated `refresh_token` recycled (by pool.lua under wrk,
    by the Chain in the idle loop): with at least as many seeds as connections, none is sent twice."""
    prefix = "grant_type=refresh_token&refresh_token="
    try:
        check(
            server,
            Request("POST", "/token", headers, prefix + quote(mint(1)[0], safe="")),
            has_field("refresh_token"),
        )
    except (CheckFailed, ValueError) as exc:
        return f"check failed: {exc}"

    def prepare(conns: int, seconds: float) -> dict[str, str]:
        path = work / f"refresh-tokens-{server.port}.txt"
        path.write_text("\n".join(mint(2 * conns)) + "\n")
        return {"TOKENS_FILE": str(path), "POOL_BODY": prefix, "POOL_NEXT": "refresh_token"}

    chain = Chain(prefix, "refresh_token", lambda: mint(1)[0])
    return Request("POST", "/token", headers, script="pool.lua", prepare=prepare, chain=chain)
