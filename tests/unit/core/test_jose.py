"""The signature-result cache never extends a token's life or outlives its key."""

from __future__ import annotations

from typing import cast

from keyturn.core.jose import SigningKey, VerifiedTokens


def test_bounded_and_keyed_by_current_keys():
    cache = VerifiedTokens(max_entries=2)
    cache.put("t1", "k1", {"exp": 10})
    cache.put("t2", "k1", {"exp": 10})
    cache.put("t3", "k2", {"exp": 10})
    assert cache.get("t1", cast(dict[str, SigningKey], {"k1": object(), "k2": object()})) is None  # oldest dropped
    assert cache.get("t2", cast(dict[str, SigningKey], {"k1": object()})) == {"exp": 10}
    assert cache.get("t3", cast(dict[str, SigningKey], {"k1": object()})) is None  # its key is no longer in the set


async def test_a_cached_token_still_expires(client, make_credential, clock):
    cred = await make_credential(refresh="none")
    other = await make_credential()
    tok = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    for _ in range(2):  # the second call is served from the cache
        r = await client.post("/introspect", data={"token": tok["access_token"]}, auth=other.basic)
        assert r.json()["active"] is True
    clock.advance(3600)
    r = await client.post("/introspect", data={"token": tok["access_token"]}, auth=other.basic)
    assert r.json() == {"active": False}
