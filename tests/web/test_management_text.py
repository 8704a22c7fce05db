"""Issue 9 item 5: NUL, other control characters and lone surrogates are refused at the boundary of every
management endpoint (400 for a body field, 400/404 for a path parameter), never a 500, nothing stored; and
the use cases the CLI calls refuse them too."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keyturn.core.errors import ApiError
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token

BAD = ["\x00", "\ud800", "\udfff", "\x07", "\x1b[31m", "\n", "\x85", "\x7f"]


def _raw(body: dict[str, Any]) -> bytes:
    """JSON with \\u escapes (json.dumps' default), so lone surrogates travel as the attack sends them."""
    return json.dumps(body).encode("ascii")


def _poison(value: Any, bad: str) -> Any:
    if isinstance(value, list):
        return [_poison(value[0], bad), *value[1:]]
    return value[:3] + bad + value[3:]


async def _admin(ctx, user) -> dict[str, str]:
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    return {"Authorization": f"Bearer {token}"}


async def _snapshot(client, user, admin, org_id) -> list[Any]:
    out = []
    reads = [("/api/v2/credential", user.headers), ("/api/oidc-clients", admin),
             (f"/api/accounts/{org_id}", user.headers), (f"/api/accounts/{org_id}/members", user.headers),
             (f"/api/accounts/{org_id}/api-keys", user.headers), ("/api/account-memberships", user.headers)]
    for path, headers in reads:
        r = await client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text)
        out.append(r.json())
    return out


async def test_a_control_character_or_lone_surrogate_in_any_body_field_is_400_and_nothing_is_stored(
        client, ctx, make_user, make_credential):
    user = await make_user()
    admin = await _admin(ctx, user)
    org = (await client.post("/api/accounts", json={"name": "Org"}, headers=user.headers)).json()
    cred = await make_credential(user, scope="payments:read")
    member = await make_user()
    endpoints: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("POST", "/api/v2/credential", user.headers,
         {"name": "my.app.cu", "domain": "*.shop.example", "scope": "payments:read", "refresh": "1d",
          "accountId": user.account_id, "role": "merchant-terminal", "redirect": "https://app.example/cb"}),
        ("PUT", f"/api/v2/credential/{cred.client_id}", user.headers,
         {"name": "renamed", "domain": "*.shop.example", "scope": "payments:read"}),
        ("PATCH", f"/api/v2/credential/{cred.client_id}", user.headers,
         {"name": "renamed", "domain": "*.shop.example", "scope": "payments:read"}),
        ("POST", "/api/oidc-clients", admin,
         {"name": "Mobile", "type": "public", "redirect_uris": ["https://app.example/cb"],
          "post_logout_redirect_uris": ["https://app.example/bye"], "allowed_origins": ["https://app.example"],
          "scope": "openid email"}),
        ("POST", "/api/accounts", user.headers, {"name": "Acme"}),
        ("PUT", f"/api/accounts/{org['id']}", user.headers, {"name": "Acme"}),
        ("POST", f"/api/accounts/{org['id']}/members", user.headers, {"user": member.email, "role": "anon-consumer"}),
        ("POST", f"/api/accounts/{org['id']}/api-keys", user.headers, {"name": "till", "role": "merchant-terminal"}),
        ("POST", "/api/authorize", user.headers, {"permission": "accounts:read", "accountId": org["id"]}),
    ]
    before = await _snapshot(client, user, admin, org["id"])
    for method, path, headers, good in endpoints:
        for field in good:
            if not isinstance(good[field], str | list):
                continue
            for bad in BAD:
                body = {**good, field: _poison(good[field], bad)}
                r = await client.request(method, path, content=_raw(body),
                                         headers={**headers, "content-type": "application/json"})
                assert r.status_code == 400, (method, path, field, repr(bad), r.text)
                err = r.json()
                assert err["status"] == "ERROR" and err["error"] == "INVALID_REQUEST", err
                assert field in err["message"], err
        # An unknown key that is itself hostile text: still a clean 400.
        r = await client.request(method, path, content=_raw({**good, "\ud800\x00": 1}),
                                 headers={**headers, "content-type": "application/json"})
        assert r.status_code == 400, (method, path, r.text)
    assert await _snapshot(client, user, admin, org["id"]) == before
    # The stored client still renders and its flows still answer (issue 9: they answered 500 forever).
    assert (await client.get(f"/api/v2/credential/{cred.client_id}", headers=user.headers)).status_code == 200


@pytest.mark.parametrize("bad", ["%00", "%01", "%0A", "%7F", "%C2%85", "%ED%A0%80", "%FF", "x%00y"])
async def test_a_control_character_in_a_path_parameter_is_404_never_500(client, ctx, make_user, bad):
    user = await make_user()
    org = (await client.post("/api/accounts", json={"name": "Org"}, headers=user.headers)).json()
    acc = org["id"]
    paths = [
        ("GET", f"/api/v2/credential/{bad}", None), ("PUT", f"/api/v2/credential/{bad}", {"name": "x"}),
        ("PATCH", f"/api/v2/credential/{bad}", {"name": "x"}), ("POST", f"/api/v2/credential/{bad}/rotate", None),
        ("DELETE", f"/api/v2/credential/{bad}", None),
        ("GET", f"/api/users/{bad}/account-memberships", None),
        ("GET", f"/api/accounts/{bad}", None), ("PUT", f"/api/accounts/{bad}", {"name": "x"}),
        ("GET", f"/api/accounts/{bad}/members", None),
        ("POST", f"/api/accounts/{bad}/members", {"user": user.email, "role": "anon-consumer"}),
        ("DELETE", f"/api/accounts/{bad}/members/{user.id}", None),
        ("DELETE", f"/api/accounts/{acc}/members/{bad}", None),
        ("POST", f"/api/accounts/{bad}/api-keys", {"name": "k", "role": "merchant-terminal"}),
        ("GET", f"/api/accounts/{bad}/api-keys", None),
        ("PUT", f"/api/accounts/{bad}/api-keys/k", {"enabled": False}),
        ("PUT", f"/api/accounts/{acc}/api-keys/{bad}", {"enabled": False}),
        ("DELETE", f"/api/accounts/{acc}/api-keys/{bad}", None),
        ("GET", f"/api/v2/credential/grant/list?accountId={bad}", None),
        ("GET", f"/api/v2/credential/grant/list?role={bad}", None),
    ]
    for method, path, body in paths:
        r = await client.request(method, path, json=body, headers=user.headers)
        assert r.status_code in (400, 404), (method, path, r.status_code, r.text)
        assert r.json()["status"] == "ERROR", (method, path, r.text)


async def test_the_use_cases_the_cli_calls_refuse_such_text_too(ctx, make_user):
    from keyturn.services import accounts, api_keys, credentials
    from keyturn.services.oidc import clients as oidc_clients

    user = await make_user()
    calls = [
        lambda: credentials.create(ctx, user.principal, {"name": "a\x00b"}, by_operator=True),
        lambda: credentials.create(ctx, user.principal, {"name": "ok", "domain": "\ud800"}, by_operator=True),
        lambda: credentials.create(ctx, user.principal, {"name": "ok", "role": "\x00"}, by_operator=True),
        lambda: credentials.create(ctx, user.principal, {"name": "ok", "redirect": ["https://a.example/\ud800"]},
                                   by_operator=True),
        lambda: oidc_clients.create(ctx, name="\ud800", public=True, redirect_uris=["https://a.example/cb"]),
        lambda: oidc_clients.create(ctx, name="ok", public=True, redirect_uris=["https://a.example/\udfff"]),
        lambda: oidc_clients.create(ctx, name="ok", public=True, redirect_uris=["https://a.example/cb"],
                                    scope="openid\x00"),
        lambda: oidc_clients.create(ctx, name="ok", public=True, redirect_uris=["https://a.example/cb"],
                                    origins=["http://[::1"]),
        lambda: accounts.create_account(ctx, None, name="Acme\x00", owner_id=user.id),
        lambda: accounts.add_member(ctx, None, user.account_id, "\ud800", "anon-consumer"),
        lambda: api_keys.create(ctx, None, user.account_id, "till", "\ud800"),
        lambda: api_keys.create(ctx, None, "\x00", "till", "merchant-terminal"),
        lambda: api_keys.list_keys(ctx, None, "\ud800"),
        lambda: accounts.list_members(ctx, None, "a\x00"),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(ApiError) as err:
            await call()
        assert err.value.status_code in (400, 404), (i, err.value.message)
