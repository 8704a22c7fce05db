"""The scenarios: which request each server gets, checked once by hand before wrk sends it.

A scenario that cannot be provisioned or whose check fails is skipped with the reason (command,
status and body), never crashing the run.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote_plus, urlencode

from . import peer
from .keyturn import Provisioned
from .load import CheckFailed, Request, check
from .servers import Server, http_call

TITLES = {
    "cc_basic": "1 client credentials, client_secret_basic",
    "cc_post": "2a client credentials, client_secret_post (form)",
    "cc_json": "2b client credentials, JSON body (seed 000)",
    "introspect": "3 introspection of an access token",
    "api_key": "4 GET /api/account-memberships, X-Api-Key",
    "health": "5 ceiling: GET /health",
    "auth_code": "6a authorization-code exchange (hook)",
    "refresh": "6b refresh-token rotation (hook)",
}
LABELS = {  # target -> how the report names it
    "kt-sqlite": "Keyturn SQLite",
    "kt-pg": "Keyturn PostgreSQL",
    "peer-jwt": "peer, JWT ES256",
    "peer-opaque": "peer, opaque",
    "kt-sqlite-1w": "Keyturn SQLite, 1 worker, unpinned",
    "kt-sqlite-2w": "Keyturn SQLite, 2 workers, unpinned",
}
FORM = "application/x-www-form-urlencoded"

Built = dict[str, Request | str]  # scenario -> request, or the reason it is skipped


def basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def token_kind(body: str) -> str:
    """'JWT <alg>' or 'opaque', from a token response."""
    token = str(json.loads(body).get("access_token", ""))
    if token.count(".") == 2:
        header = token.split(".")[0]
        alg = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("alg")
        return f"JWT {alg}"
    return "opaque"


def has_field(key: str) -> Callable[[str], bool]:
    def expect(body: str) -> bool:
        try:
            return bool(json.loads(body).get(key))
        except (ValueError, AttributeError):
            return False

    return expect


def try_request(
    built: Built, scenario: str, server: Server, req: Request, key: str | None = None
) -> str | None:
    """Check req on server; store it (or the failure) under scenario; the answer body if it passed."""
    try:
        body = check(server, req, has_field(key) if key else None)
    except CheckFailed as exc:
        built[scenario] = f"check failed: {exc}"
        return None
    built[scenario] = req
    return body


def for_keyturn(server: Server, got: Provisioned, work: Path, notes: dict[str, str]) -> Built:
    built: Built = {}
    auth = basic(got.client_id, got.client_secret)
    cc = Request(
        "POST", "/token", {"Content-Type": FORM, "Authorization": auth}, "grant_type=client_credentials"
    )
    answer = try_request(built, "cc_basic", server, cc, "access_token")
    if answer:
        notes["access token"] = token_kind(answer)
    try_request(
        built,
        "cc_post",
        server,
        Request(
            "POST",
            "/token",
            {"Content-Type": FORM},
            urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": got.client_id,
                    "client_secret": got.client_secret,
                }
            ),
        ),
        "access_token",
    )
    try_request(
        built,
        "cc_json",
        server,
        Request(
            "POST",
            "/api/v2/access/token",
            {"Content-Type": "application/json"},
            json.dumps(
                {
                    "grant_type": "client_credentials",
                    "client_id": got.client_id,
                    "client_secret": got.client_secret,
                },
                separators=(",", ":"),
            ),
        ),
        "access_token",
    )
    if answer:
        try_request(built, "introspect", server, introspection(server, cc, "/introspect"), "active")
    else:
        built["introspect"] = "no access token to introspect (scenario 1 failed)"
    if got.api_key:
        try_request(
            built, "api_key", server, Request("GET", "/api/account-memberships", {"X-Api-Key": got.api_key})
        )
    else:
        built["api_key"] = f"provisioning failed: {got.errors.get('api_key')}"
    try_request(built, "health", server, Request("GET", "/health"))
    built["auth_code"] = authorization_code_hook(server, got)
    built["refresh"] = refresh_rotation_hook(server, got, work)
    return built


# --- Scenario 6 hooks ----------------------------------------------------------------------------
# 6a and 6b load grants that spend a single-use value per request, so each wrk run needs fresh
# values minted beforehand (Request.prepare). When Keyturn offers a non-interactive way to mint
# them, fill these in; until then they return the reason they are skipped.


def authorization_code_hook(server: Server, got: Provisioned) -> Request | str:
    """Scenario 6a (HOOK): POST /token grant_type=authorization_code with PKCE, one code per request.

    Needs: an OIDC client with a redirect URI, and N codes minted per run (log in + consent over
    HTTP, or a CLI/test endpoint that issues codes). Write them to a file and load them with a
    pool script like lua/rotate.lua.
    """
    return "hook not provisioned yet: needs a non-interactive way to mint authorization codes"


def refresh_rotation_hook(server: Server, got: Provisioned, work: Path) -> Request | str:
    """Scenario 6b (HOOK): POST /token grant_type=refresh_token, each answer's token sent next.

    Seeds: refresh tokens from client-credentials grants of a credential created with
    `--refresh 1d` (the seed's credentials carry refresh tokens); lua/rotate.lua spends each once.
    """
    if not got.refresh_client_id:
        return f"provisioning failed: {got.errors.get('refresh')}"
    auth = basic(got.refresh_client_id, got.refresh_client_secret)
    headers = {"Content-Type": FORM, "Authorization": auth}

    def mint(n: int) -> list[str]:
        tokens = []
        for _ in range(n):
            status, body = http_call(server.port, "POST", "/token", headers, "grant_type=client_credentials")
            token = json.loads(body).get("refresh_token") if status == 200 else None
            if not token:
                raise CheckFailed(
                    f"POST /token grant_type=client_credentials (refresh credential) -> "
                    f"{status} {body[:400]!r}: no refresh_token"
                )
            tokens.append(str(token))
        return tokens

    try:
        first = mint(1)[0]
        rotated = Request(
            "POST", "/token", headers, urlencode({"grant_type": "refresh_token", "refresh_token": first})
        )
        check(server, rotated, has_field("refresh_token"))
    except (CheckFailed, ValueError) as exc:
        return f"check failed: {exc}"

    def prepare(conns: int) -> dict[str, str]:
        path = work / f"refresh-tokens-{server.port}.txt"
        path.write_text("\n".join(mint(2 * conns)) + "\n")
        return {"TOKENS_FILE": str(path)}

    return Request("POST", "/token", headers, script="rotate.lua", prepare=prepare)


def for_peer(server: Server, opaque: bool, notes: dict[str, str]) -> Built:
    built: Built = {}
    auth = basic(peer.CLIENT_ID, peer.CLIENT_SECRET)
    cc = Request(
        "POST", "/token", {"Content-Type": FORM, "Authorization": auth}, "grant_type=client_credentials"
    )
    answer = try_request(built, "cc_basic", server, cc, "access_token")
    if answer:
        notes["access token"] = token_kind(answer)
    if opaque and answer:
        try_request(built, "introspect", server, introspection(server, cc, "/token/introspection"), "active")
    return built


def introspection(server: Server, cc: Request, path: str) -> Request:
    """Introspect a token issued just before each run: the peer's in-memory store keeps only the
    last 1,000 tokens, and a token must not expire between interleaved passes."""

    def issue() -> str:
        status, body = http_call(server.port, cc.method, cc.path, cc.headers, cc.body)
        if status != 200:
            raise CheckFailed(f"{cc.method} {cc.path} -> {status} {body[:400]!r}")
        return urlencode({"token": json.loads(body)["access_token"]})

    return Request(
        "POST",
        path,
        {"Content-Type": FORM, "Authorization": cc.headers["Authorization"]},
        issue(),
        prepare=lambda conns: {"BODY": issue()},
    )
