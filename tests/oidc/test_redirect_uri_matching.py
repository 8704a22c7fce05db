"""Redirect URI matching at the authorization endpoint (R01, R03, R06; RFC 8252 §7.3, RFC 6749 §3.1.2).

A fragment is never accepted, not even an empty ``#``; on a loopback IP literal only the port
may differ from the registered URI, and only to a real port (1-65535). Every refusal is the
400 HTML page with no ``Location`` (the URI is not proven, so nothing is redirected to it).
"""

from __future__ import annotations

import pytest

from tests.oidc.helpers import authorize_params, make_client, pkce_pair

LOOPBACK = "http://127.0.0.1/cb"
LOOPBACK_PORT = "http://127.0.0.1:8080/cb"
LOOPBACK_V6_QUERY = "http://[::1]/cb?app=1"
WEB = "https://app.example.test/cb"


async def _start(client, client_id, redirect_uri, method="GET", **extra):
    _, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, redirect_uri=redirect_uri, **extra)
    if method == "POST":
        return await client.post("/authorize", data=params)
    return await client.get("/authorize", params=params)


def _refused(r) -> None:
    assert r.status_code == 400, r.text
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")


REFUSED = [
    # fragment, empty or not, with the loopback port varied or not, and off loopback
    (LOOPBACK, "http://127.0.0.1:51234/cb#"), (LOOPBACK, "http://127.0.0.1:51234/cb#x"), (LOOPBACK, LOOPBACK + "#"),
    (LOOPBACK_PORT, "http://127.0.0.1:9090/cb#"), (LOOPBACK_V6_QUERY, "http://[::1]:5000/cb?app=1#"),
    (WEB, WEB + "#"), (WEB, WEB + "#frag"),
    # ports that are not real ones
    (LOOPBACK, "http://127.0.0.1:0/cb"), (LOOPBACK_PORT, "http://127.0.0.1:0/cb"),
    (LOOPBACK, "http://127.0.0.1:65536/cb"), (LOOPBACK, "http://127.0.0.1:080/cb"), (LOOPBACK, "http://127.0.0.1:/cb"),
    (LOOPBACK_V6_QUERY, "http://[::1]:0/cb?app=1"),
    # another host, scheme, path or query
    (LOOPBACK, "http://localhost:51234/cb"), (LOOPBACK, "http://127.0.0.2:51234/cb"),
    (LOOPBACK, "http://127.0.0.1.evil.example:51234/cb"), (LOOPBACK, "https://127.0.0.1:51234/cb"),
    (LOOPBACK, "http://127.0.0.1:51234/cb/"), (LOOPBACK, "http://127.0.0.1:51234/cb?x=1"),
    (LOOPBACK, "http://127.0.0.1:51234/cb?"), (LOOPBACK_V6_QUERY, "http://[::1]:5000/cb?app=2"),
    (LOOPBACK_V6_QUERY, "http://[::1]:5000/cb"), (LOOPBACK_V6_QUERY, "http://[::1]:5000/cb?app=1&x=1"),
    # no port variation off loopback
    (WEB, "https://app.example.test:8443/cb"),
]
ACCEPTED = [
    (LOOPBACK, "http://127.0.0.1:1/cb"), (LOOPBACK, "http://127.0.0.1:65535/cb"),
    (LOOPBACK_PORT, "http://127.0.0.1:9090/cb"), (LOOPBACK_PORT, "http://127.0.0.1/cb"),
    (LOOPBACK_V6_QUERY, "http://[::1]:5000/cb?app=1"),
]


async def _clients(ctx) -> dict[str, str]:
    return {uri: (await make_client(ctx, redirect_uris=[uri]))["client_id"]
            for uri in (LOOPBACK, LOOPBACK_PORT, LOOPBACK_V6_QUERY, WEB)}


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_fragment_unreal_port_or_other_difference_gets_the_page_never_a_redirect(client, ctx, method):
    ids = await _clients(ctx)
    for registered, requested in REFUSED:
        # R03: even with another error pending, the unproven URI decides first.
        _refused(await _start(client, ids[registered], requested, method=method, response_type="token"))
        _refused(await _start(client, ids[registered], requested, method=method))


async def test_loopback_may_vary_only_the_port_to_a_real_one(client, ctx):
    ids = await _clients(ctx)
    for registered, requested in ACCEPTED:
        r = await _start(client, ids[registered], requested, response_type="token")
        assert r.status_code == 303, requested
        assert r.headers["location"].startswith(requested + ("&" if "?" in requested else "?"))
        assert "error=unsupported_response_type" in r.headers["location"]
