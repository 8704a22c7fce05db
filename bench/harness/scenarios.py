"""The scenarios: which request each server gets, checked once by hand before wrk sends it.

A scenario that cannot be provisioned or whose check fails is skipped with the reason (command,
status and body), never crashing the run.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlencode

from . import peer, single_use
from .keyturn import Provisioned
from .load import CheckFailed, Request, check, has_field
from .servers import FORM, Server, basic, http_call

TITLES = {
    "cc_basic": "1 client credentials, client_secret_basic",
    "cc_refresh": "1r client credentials, credential with refresh 1d (seed 000)",
    "cc_post": "2a client credentials, client_secret_post (form)",
    "cc_json": "2b client credentials, JSON body (seed 000)",
    "introspect": "3 introspection of an access token",
    "api_key": "4 GET /api/account-memberships, X-Api-Key",
    "health": "5 ceiling: GET /health",
    "auth_code": "6a authorization-code exchange, RS256 ID token (hook)",
    "auth_code_es256": "6a' authorization-code exchange, ES256 ID token (hook)",
    "auth_code_eddsa": "6a'' authorization-code exchange, EdDSA ID token (hook)",
    "refresh": "6b refresh-token rotation (hook)",
}
# Scenarios measured on a peer only as the reference of another: cc_refresh is compared with the
# peer's client credentials (node-oidc-provider issues no refresh token on that grant).
REFERENCES = {"cc_refresh": "cc_basic"}
LABELS = {  # target -> how the report names it
    "kt-sqlite": "Keyturn SQLite",
    "kt-pg": "Keyturn PostgreSQL",
    "peer-jwt": "peer, JWT ES256",
    "peer-opaque": "peer, opaque",
    "peer-refresh": "peer, JWT ES256, REFRESH=1",
    "kt-sqlite-1w": "Keyturn SQLite, 1 worker, unpinned",
    "kt-sqlite-2w": "Keyturn SQLite, 2 workers, unpinned",
}
Built = dict[str, Request | str]  # scenario -> request, or the reason it is skipped


def token_kind(body: str) -> str:
    """'JWT <alg>' or 'opaque', from a token response."""
    token = str(json.loads(body).get("access_token", ""))
    if token.count(".") != 2:
        return "opaque"
    header = token.split(".")[0]
    try:
        return f"JWT {json.loads(base64.urlsafe_b64decode(header + '=' * (-len(header) % 4))).get('alg')}"
    except ValueError:
        return "three-part token, header not JSON"


def try_request(built: Built, scenario: str, server: Server, req: Request, key: str | None = None) -> str | None:
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
    cc = Request("POST", "/token", {"Content-Type": FORM, "Authorization": auth}, "grant_type=client_credentials")
    answer = try_request(built, "cc_basic", server, cc, "access_token")
    if answer:
        notes["access token"] = token_kind(answer)
    # Scenario 1r: the same grant with seed 000's credential (`refresh: 1d`): a refresh token is
    # written with every answer, so this is a write path.
    if got.refresh_client_id:
        auth_r = basic(got.refresh_client_id, got.refresh_client_secret)
        cc_r = Request("POST", "/token", {"Content-Type": FORM, "Authorization": auth_r}, cc.body)
        try_request(built, "cc_refresh", server, cc_r, "refresh_token")
    else:
        built["cc_refresh"] = f"provisioning failed: {got.errors.get('refresh')}"
    # Scenario 2: the same grant with the secret in the form body, then in seed 000's JSON body.
    fields = {"grant_type": "client_credentials", "client_id": got.client_id, "client_secret": got.client_secret}
    post = Request("POST", "/token", {"Content-Type": FORM}, urlencode(fields))
    try_request(built, "cc_post", server, post, "access_token")
    body = json.dumps(fields, separators=(",", ":"))
    seed = Request("POST", "/api/v2/access/token", {"Content-Type": "application/json"}, body)
    try_request(built, "cc_json", server, seed, "access_token")
    introspection(built, server, cc, answer, "/introspect")
    if got.api_key:
        try_request(built, "api_key", server, Request("GET", "/api/account-memberships", {"X-Api-Key": got.api_key}))
    else:
        built["api_key"] = f"provisioning failed: {got.errors.get('api_key')}"
    try_request(built, "health", server, Request("GET", "/health"))
    # Scenario 6 (hooks): grants that spend a single-use value per request.
    for scenario, client, alg in (
        ("auth_code", (got.rp_client_id, got.rp_client_secret), "RS256"),
        ("auth_code_es256", (got.rp_es256_client_id, got.rp_es256_client_secret), "ES256"),
        ("auth_code_eddsa", (got.rp_eddsa_client_id, got.rp_eddsa_client_secret), "EdDSA"),
    ):
        if client[0]:
            built[scenario] = single_use.authorization_code(server, client, work, alg, f"codes-{alg}")
        else:
            built[scenario] = f"provisioning failed: {got.errors.get(scenario)}"
    built["refresh"] = single_use.refresh_rotation(server, got, work)
    return built


def for_peer(server: Server, opaque: bool, notes: dict[str, str]) -> Built:
    built: Built = {}
    auth = basic(peer.CLIENT_ID, peer.CLIENT_SECRET)
    cc = Request("POST", "/token", {"Content-Type": FORM, "Authorization": auth}, "grant_type=client_credentials")
    answer = try_request(built, "cc_basic", server, cc, "access_token")
    if answer:
        notes["access token"] = token_kind(answer)
    if opaque:
        introspection(built, server, cc, answer, "/token/introspection")
    return built


def for_peer_refresh(server: Server, work: Path, notes: dict[str, str]) -> Built:
    """The peer started with REFRESH=1: only refresh-token rotation (6b)."""
    built: Built = {"refresh": single_use.peer_refresh_rotation(server, work)}
    notes["refresh tokens"] = "rotated on every use, pool from POST /bench/mint-refresh"
    return built


def introspection(built: Built, server: Server, cc: Request, answer: str | None, path: str) -> None:
    """Introspect a token issued just before each run: the peer's in-memory store keeps only the
    last 1,000 tokens, and a token must not expire between interleaved passes."""
    if not answer:
        built["introspect"] = "no access token to introspect (scenario 1 failed)"
        return

    def issue() -> str:
        status, body = http_call(server.port, cc.method, cc.path, cc.headers, cc.body)
        if status != 200:
            raise CheckFailed(f"{cc.method} {cc.path} -> {status} {body[:400]!r}")
        return urlencode({"token": json.loads(body)["access_token"]})

    headers = {"Content-Type": FORM, "Authorization": cc.headers["Authorization"]}
    try:
        req = Request("POST", path, headers, issue(), prepare=lambda conns, seconds: {"BODY": issue()})
    except (CheckFailed, ValueError, KeyError) as exc:
        built["introspect"] = f"check failed: {exc}"
        return
    try_request(built, "introspect", server, req, "active")
