"""redirect_uri at the token endpoint (RFC 6749 §4.1.3, R34).

If the authorization request carried redirect_uri, the token request must carry the identical
string: missing is ``invalid_request`` (a required parameter), different is ``invalid_grant``.
If it carried none (one registered URI), the token request may omit it, and one that is sent
must equal the registered URI. A refused exchange leaves the code usable (OAuth 2.1 §7.5.2).
"""

from __future__ import annotations

from sqlalchemy import update

from keyturn.storage.tables import authorization_codes
from tests.oidc.helpers import REDIRECT, authorize_code, make_client

OTHER = "https://app.example.test/other"


async def _exchange(client, client_id, code, verifier, **redirect):
    data = {"grant_type": "authorization_code", "code": code, "client_id": client_id, "code_verifier": verifier,
            **redirect}
    return await client.post("/token", data=data)


def _error(r, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and r.headers["cache-control"] == "no-store"


async def test_redirect_uri_sent_at_authorize_must_be_repeated_identically_at_token(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)  # exactly one registered URI: it could have been omitted, but was sent
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    _error(await _exchange(client, rp["client_id"], code, verifier), 400, "invalid_request")
    _error(await _exchange(client, rp["client_id"], code, verifier, redirect_uri=REDIRECT + "/"), 400, "invalid_grant")
    _error(await _exchange(client, rp["client_id"], code, verifier, redirect_uri=OTHER), 400, "invalid_grant")
    # None of the refusals burnt the code.
    r = await _exchange(client, rp["client_id"], code, verifier, redirect_uri=REDIRECT)
    assert r.status_code == 200, r.text


async def test_redirect_uri_required_at_token_with_several_registered(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, redirect_uris=[REDIRECT, OTHER])
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, redirect_uri=OTHER)
    _error(await _exchange(client, rp["client_id"], code, verifier), 400, "invalid_request")
    _error(await _exchange(client, rp["client_id"], code, verifier, redirect_uri=REDIRECT), 400, "invalid_grant")
    assert (await _exchange(client, rp["client_id"], code, verifier, redirect_uri=OTHER)).status_code == 200


async def test_redirect_uri_omitted_at_authorize_may_be_omitted_or_must_be_the_registered_one(
        client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, redirect_uri=None)
    assert (await _exchange(client, rp["client_id"], code, verifier)).status_code == 200
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, redirect_uri=None)
    _error(await _exchange(client, rp["client_id"], code, verifier, redirect_uri=OTHER), 400, "invalid_grant")
    assert (await _exchange(client, rp["client_id"], code, verifier, redirect_uri=REDIRECT)).status_code == 200


async def test_loopback_code_is_bound_to_the_port_the_authorization_request_used(client, ctx, make_user):
    user = await make_user()
    rp = await make_client(ctx, redirect_uris=["http://127.0.0.1/cb"])
    code, verifier, _ = await authorize_code(client, rp["client_id"], user, redirect_uri="http://127.0.0.1:51234/cb")
    for other in ("http://127.0.0.1/cb", "http://127.0.0.1:51235/cb"):
        _error(await _exchange(client, rp["client_id"], code, verifier, redirect_uri=other), 400, "invalid_grant")
    _error(await _exchange(client, rp["client_id"], code, verifier), 400, "invalid_request")
    r = await _exchange(client, rp["client_id"], code, verifier, redirect_uri="http://127.0.0.1:51234/cb")
    assert r.status_code == 200, r.text


async def test_code_stored_before_the_flag_existed_keeps_the_rule_it_was_issued_under(client, ctx, make_user):
    """A row with redirect_uri_sent NULL (migration 0002, or an older node mid-deploy): omission is allowed
    exactly when the client has one registered URI, and a sent value must still match."""
    user = await make_user()
    one = await make_client(ctx)
    two = await make_client(ctx, redirect_uris=[REDIRECT, OTHER])
    codes = {}
    for rp in (one, two):
        codes[rp["client_id"]] = await authorize_code(client, rp["client_id"], user)
    async with ctx.engine.begin() as conn:
        await conn.execute(update(authorization_codes).values(redirect_uri_sent=None))
    code, verifier, _ = codes[one["client_id"]]
    _error(await _exchange(client, one["client_id"], code, verifier, redirect_uri=OTHER), 400, "invalid_grant")
    assert (await _exchange(client, one["client_id"], code, verifier)).status_code == 200
    code, verifier, _ = codes[two["client_id"]]
    _error(await _exchange(client, two["client_id"], code, verifier), 400, "invalid_request")
    assert (await _exchange(client, two["client_id"], code, verifier, redirect_uri=REDIRECT)).status_code == 200
