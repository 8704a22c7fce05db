"""RFC 6749 §5.2 errors at the token endpoint, exactly; client authentication rules (R37–R42)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

from keyturn.core.secrets import digest
from keyturn.storage import clients as clients_repo

ERRORS = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
          "unsupported_grant_type", "invalid_scope"}


def assert_oauth_error(r, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    desc = body.get("error_description", "")
    # RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in desc), desc


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def test_get_is_405_with_allow_post(client):
    for path in ("/token", "/api/v2/access/token", "/introspect", "/revoke"):
        r = await client.get(path)
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        assert r.json()["error"] == "invalid_request" and r.headers["cache-control"] == "no-store"


async def test_missing_grant_type_is_invalid_request(client, make_credential):
    cred = await make_credential()
    assert_oauth_error(await client.post("/token", data={}, auth=cred.basic), 400, "invalid_request")


async def test_unknown_and_password_grant_types_are_unsupported(client, make_credential):
    cred = await make_credential()
    for gt in ("password", "implicit", "urn:x"):
        r = await client.post("/token", data={"grant_type": gt}, auth=cred.basic)
        assert_oauth_error(r, 400, "unsupported_grant_type")


async def test_repeated_parameter_is_invalid_request_in_form_and_json(client, make_credential):
    cred = await make_credential()
    r = await client.post("/token", content=b"grant_type=client_credentials&grant_type=client_credentials",
                          headers={"content-type": "application/x-www-form-urlencoded"}, auth=cred.basic)
    assert_oauth_error(r, 400, "invalid_request")
    head = '{"grant_type":"client_credentials","client_id":"' + cred.client_id + '",'
    body = (head + '"client_secret":"' + cred.client_secret + '","client_secret":"x"}').encode()
    r = await client.post("/token", content=body, headers={"content-type": "application/json"})
    assert_oauth_error(r, 400, "invalid_request")


BAD_BODIES = [
    ("text/plain", b"grant_type=client_credentials"),
    (None, b"grant_type=client_credentials"),
    ("application/json", b"{not json"),
    ("application/json", b"[1,2]"),
    ("application/json", b'{"grant_type": ["client_credentials"]}'),
    ("application/json", b'{"grant_type": "client_credentials", "client_id": "\\ud800"}'),
    ("application/json", b"\xff\xfe{}"),
    ("application/x-www-form-urlencoded", b"grant_type=client_credentials&client_id=%ff%fe"),
    ("application/x-www-form-urlencoded", b"grant_type=\xc3\x28"),
    ("application/json", b"[" * 5000),
    ("application/json", b'{"grant_type": "client_credentials", "client_id": ' + b"9" * 5000 + b"}"),
]


async def test_bad_bodies_are_invalid_request(client):
    for ctype, body in BAD_BODIES:
        headers = {"content-type": ctype} if ctype else {}
        for path in ("/token", "/introspect", "/revoke"):
            r = await client.post(path, content=body, headers=headers)
            assert_oauth_error(r, 400, "invalid_request")


async def test_oversized_body_is_invalid_request(client):
    r = await client.post("/token", content=b"a=" + b"x" * 70000,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert_oauth_error(r, 400, "invalid_request")


async def test_no_client_authentication_is_401_invalid_client(client):
    r = await client.post("/token", data={"grant_type": "client_credentials"})
    assert_oauth_error(r, 401, "invalid_client")


def _b64(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


# Basic credentials that cannot be decoded name no client: a malformed request (RFC 6749 §5.2).
MALFORMED_BASIC = ["Basic !!!notbase64", "Basic abc", _b64(b"no-colon"), _b64(b"\xff\xfe:x"), "Basic", "Basic ",
                   _b64(b"id:%zz"), _b64(b"id:%4"), _b64(b"%ff%fe:secret"), _b64(b"id:%C3%28"),
                   "Basic " + "A" * 10000]


async def test_malformed_basic_credentials_are_400_invalid_request(client, make_credential):
    cred = await make_credential()
    for header in MALFORMED_BASIC + [_b64(f"{cred.client_id}:%zz".encode())]:
        for path in ("/token", "/introspect", "/revoke"):
            r = await client.post(path, data={"grant_type": "client_credentials", "token": "x"},
                                  headers={"Authorization": header})
            assert_oauth_error(r, 400, "invalid_request")
            assert "www-authenticate" not in r.headers


async def test_wellformed_basic_that_fails_is_401_invalid_client_with_basic_challenge(client, make_credential):
    """R40: a wrong secret, an unknown or unusable client_id, or another scheme stay 401 + WWW-Authenticate."""
    cred = await make_credential()
    for header in [basic(cred.client_id, "wrong")["Authorization"], basic("unknown-client", "x")["Authorization"],
                   _b64(b"\x00:x"), _b64(b":x"), "Bearer abc"]:
        r = await client.post("/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header})
        assert_oauth_error(r, 401, "invalid_client")
        assert r.headers["www-authenticate"].startswith("Basic ")


async def test_client_id_with_nul_or_non_ascii_is_invalid_client(client):
    for cid in ("\x00", "ü" * 10, "x" * 500):
        r = await client.post("/token", json={"grant_type": "client_credentials", "client_id": cid,
                                              "client_secret": "x"})
        assert_oauth_error(r, 401, "invalid_client")


async def test_secret_with_colon_percent_plus_space_works_with_basic_form_encoding(client, ctx, make_credential):
    """R41 (RFC 6749 §2.3.1): id and secret are form-urlencoded before base64."""
    cred = await make_credential()
    secret = "a:b%c+d e/f"
    async with ctx.engine.begin() as conn:
        await clients_repo.update_fields(conn, cred.client_id, secret_digest=digest(secret))
    r = await client.post("/token", data={"grant_type": "client_credentials"}, headers=basic(cred.client_id, secret))
    assert r.status_code == 200, r.text
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id,
                                          "client_secret": secret})
    assert r.status_code == 200, r.text


async def test_basic_plus_body_secret_is_invalid_request(client, make_credential):
    """R42: exactly one client authentication method."""
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_secret": cred.client_secret},
                          auth=cred.basic)
    assert_oauth_error(r, 400, "invalid_request")


async def test_body_client_id_differing_from_basic_is_invalid_request(client, make_credential):
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": "other"}, auth=cred.basic)
    assert_oauth_error(r, 400, "invalid_request")


async def test_wrong_secret_in_body_is_401_invalid_client(client, make_credential):
    cred = await make_credential()
    r = await client.post("/api/v2/access/token", json={"grant_type": "client_credentials",
                                                        "client_id": cred.client_id, "client_secret": "nope"})
    assert_oauth_error(r, 401, "invalid_client")


async def test_client_id_without_secret_is_401(client, make_credential):
    """R49: client_credentials needs an authenticated, confidential client."""
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials", "client_id": cred.client_id})
    assert_oauth_error(r, 401, "invalid_client")


async def test_scope_outside_the_grammar_is_invalid_scope(client, make_credential):
    """R51."""
    cred = await make_credential()
    for scope in ('a"b', "a\\b", "a\x01b", "é", "x" * 3000):
        r = await client.post("/token", data={"grant_type": "client_credentials", "scope": scope}, auth=cred.basic)
        assert_oauth_error(r, 400, "invalid_scope")


async def test_narrower_scope_is_granted_and_more_is_invalid_scope(client, make_credential):
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials", "scope": "payments:read"},
                          auth=cred.basic)
    assert r.json()["scope"] == "payments:read"
    r = await client.post("/token", data={"grant_type": "client_credentials",
                                          "scope": "payments:read payments:admin"}, auth=cred.basic)
    assert_oauth_error(r, 400, "invalid_scope")


async def test_credential_without_refresh_cannot_use_the_refresh_grant(client, make_credential):
    cred = await make_credential(refresh="none")
    r = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "ktrt_x"},
                          auth=cred.basic)
    assert_oauth_error(r, 400, "unauthorized_client")


async def test_refresh_without_refresh_token_is_invalid_request(client, make_credential):
    cred = await make_credential(refresh="1d")
    r = await client.post("/token", data={"grant_type": "refresh_token"}, auth=cred.basic)
    assert_oauth_error(r, 400, "invalid_request")


async def test_unknown_parameters_are_ignored(client, make_credential):
    cred = await make_credential()
    r = await client.post("/token", data={"grant_type": "client_credentials", "foo": "bar", "code": "x"},
                          auth=cred.basic)
    assert r.status_code == 200


async def test_disabled_credential_is_invalid_client(client, make_credential, make_user):
    owner = await make_user()
    cred = await make_credential(owner)
    r = await client.put(f"/api/v2/credential/{cred.client_id}", json={"status": 1}, headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert_oauth_error(r, 401, "invalid_client")
