"""The refresh-reuse grace window (KEYTURN_REFRESH_REUSE_GRACE, docs/client-authentication.md; REQUIREMENTS
§8 D1, I1) and seed 001's refresh-token lifetime ("expires after 60 days or when revoked": no idle limit by
default, R60/R61), over HTTP on SQLite and PostgreSQL.

Inside the window, a repeat of a just-rotated refresh token by its client gets the identical answer (same
successor refresh token, same access token); outside it, or once the successor was used, or from another
client, reuse detection stands as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from keyturn.core import reissue
from keyturn.core.secrets import digest
from keyturn.settings import Settings
from keyturn.storage import tables as t
from tests.conftest import ISSUER
from tests.oidc.helpers import authorize_code, exchange, make_client

GRACE = 10
DAY = 86400
STRICT = pytest.mark.parametrize("settings_overrides", [{}], ids=["strict"])


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"refresh_reuse_grace": GRACE}


async def _cc(client: Any, cred: Any) -> dict[str, Any]:
    r = await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _refresh(client: Any, cred: Any, rt: str) -> Any:
    return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt}, auth=cred.basic)


def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


def _invalid_grant(r: Any) -> None:
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"
    assert r.headers["cache-control"] == "no-store"


async def _audit(ctx: Any, event: str) -> int:
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(select(t.audit_events.c.id).where(t.audit_events.c.event == event))).all()
    return len(rows)


async def test_a_repeat_inside_the_window_gets_the_identical_answer_and_the_family_lives(client, make_credential,
                                                                                         clock, ctx):
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    first = _ok(await _refresh(client, cred, rt1))
    clock.advance(GRACE - 1)
    again = _ok(await _refresh(client, cred, rt1))
    assert again["refresh_token"] == first["refresh_token"] and again["access_token"] == first["access_token"]
    assert again["scope"] == first["scope"] and again["expires_in"] == first["expires_in"] - (GRACE - 1)
    assert await _audit(ctx, "refresh_token.reuse_detected") == 0
    assert await _audit(ctx, "refresh_token.reissued") == 1
    third = _ok(await _refresh(client, cred, first["refresh_token"]))  # the family goes on
    assert third["refresh_token"] not in (rt1, first["refresh_token"])
    _ok(await _refresh(client, cred, third["refresh_token"]))


async def test_the_database_keeps_the_answer_sealed_never_the_successor(client, make_credential, ctx):
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    rt2 = _ok(await _refresh(client, cred, rt1))["refresh_token"]
    async with ctx.engine.connect() as conn:
        box = (await conn.execute(select(t.refresh_tokens.c.reissue)
                                  .where(t.refresh_tokens.c.digest == digest(rt1)))).scalar_one()
        fresh = (await conn.execute(select(t.refresh_tokens.c.reissue)
                                    .where(t.refresh_tokens.c.digest == digest(rt2)))).scalar_one()
    assert box is not None and fresh is None  # only a spent token keeps a box
    assert rt2.encode() not in bytes(box) and b"access_token" not in bytes(box)
    assert reissue.unseal(rt2, digest(rt1), bytes(box)) is None  # only the presented token opens it
    assert reissue.unseal(rt1, digest(rt2), bytes(box)) is None  # ... in its own row
    assert b'"refresh_token"' in (reissue.unseal(rt1, digest(rt1), bytes(box)) or b"")


async def test_a_repeat_after_the_window_revokes_the_family(client, make_credential, clock, ctx):
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    rt2 = _ok(await _refresh(client, cred, rt1))["refresh_token"]
    clock.advance(GRACE)
    _invalid_grant(await _refresh(client, cred, rt1))
    _invalid_grant(await _refresh(client, cred, rt2))
    assert await _audit(ctx, "refresh_token.reuse_detected") == 1


async def test_a_repeat_once_the_successor_was_used_revokes_the_family(client, make_credential):
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    rt2 = _ok(await _refresh(client, cred, rt1))["refresh_token"]
    rt3 = _ok(await _refresh(client, cred, rt2))["refresh_token"]
    _invalid_grant(await _refresh(client, cred, rt1))  # rt2, the successor it would get, is spent: theft
    _invalid_grant(await _refresh(client, cred, rt3))


async def test_a_repeat_chain_follows_the_family(client, make_credential):
    """Tab A rotates rt1 → rt2, tab B repeats rt1 (gets rt2); A rotates rt2 → rt3, B repeats rt2 (gets rt3)."""
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    rt2 = _ok(await _refresh(client, cred, rt1))["refresh_token"]
    assert _ok(await _refresh(client, cred, rt1))["refresh_token"] == rt2
    rt3 = _ok(await _refresh(client, cred, rt2))["refresh_token"]
    assert _ok(await _refresh(client, cred, rt2))["refresh_token"] == rt3
    _ok(await _refresh(client, cred, rt3))


async def test_a_repeat_by_another_client_is_refused_and_revokes_nothing(client, make_credential):
    """R56: the token stays bound to its client; the grace window is its client's only."""
    cred, other = await make_credential(refresh="1d"), await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    rt2 = _ok(await _refresh(client, cred, rt1))["refresh_token"]
    _invalid_grant(await _refresh(client, other, rt1))
    _ok(await _refresh(client, cred, rt2))


async def test_a_repeat_after_the_family_was_revoked_is_invalid_grant(client, make_credential):
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    rt2 = _ok(await _refresh(client, cred, rt1))["refresh_token"]
    r = await client.post("/revoke", data={"token": rt2, "token_type_hint": "refresh_token"}, auth=cred.basic)
    assert r.status_code == 200, r.text
    _invalid_grant(await _refresh(client, cred, rt1))


async def test_a_damaged_box_is_a_replay(client, make_credential, ctx):
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    rt2 = _ok(await _refresh(client, cred, rt1))["refresh_token"]
    async with ctx.engine.begin() as conn:
        await conn.execute(t.refresh_tokens.update().where(t.refresh_tokens.c.digest == digest(rt1))
                           .values(reissue=b"\x00" * 40))
    _invalid_grant(await _refresh(client, cred, rt1))
    _invalid_grant(await _refresh(client, cred, rt2))


async def test_parallel_repeats_all_get_the_identical_successor(client, make_credential):
    """F02 "two tabs" with the window on: one rotation, every concurrent request its answer (I1)."""
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    answers = await asyncio.gather(*(_refresh(client, cred, rt1) for _ in range(12)))
    bodies = [_ok(r) for r in answers]
    assert len({(b["refresh_token"], b["access_token"]) for b in bodies}) == 1
    _ok(await _refresh(client, cred, bodies[0]["refresh_token"]))


async def test_repeats_in_one_group_commit_batch_share_the_first_ones_answer(client, make_credential, ctx):
    """A transaction in flight (another family's refresh) makes the two repeats queue into one batch: the first
    consumes the token, the second shares its answer (services/tokens.py), none is a replay."""
    cred = await make_credential(refresh="1d")
    other, rt1 = (await _cc(client, cred))["refresh_token"], (await _cc(client, cred))["refresh_token"]
    before = ctx.writes.stats.largest
    answers = await asyncio.gather(_refresh(client, cred, other), _refresh(client, cred, rt1),
                                   _refresh(client, cred, rt1))
    a, b = _ok(answers[1]), _ok(answers[2])
    assert a == b and ctx.writes.stats.largest >= max(before, 2)
    assert await _audit(ctx, "refresh_token.reissued") == 1
    _ok(await _refresh(client, cred, a["refresh_token"]))


@STRICT
async def test_strict_by_default_two_parallel_refreshes_revoke_the_family(client, make_credential, ctx):
    assert ctx.settings.refresh_reuse_grace == 0
    cred = await make_credential(refresh="1d")
    rt1 = (await _cc(client, cred))["refresh_token"]
    answers = await asyncio.gather(_refresh(client, cred, rt1), _refresh(client, cred, rt1))
    assert sorted(r.status_code for r in answers) == [200, 400]
    winner = next(r for r in answers if r.status_code == 200).json()["refresh_token"]
    _invalid_grant(await _refresh(client, cred, winner))
    async with ctx.engine.connect() as conn:  # nothing is sealed when the window is off
        assert (await conn.execute(select(t.refresh_tokens.c.digest)
                                   .where(t.refresh_tokens.c.reissue.is_not(None)))).all() == []


# A user's refresh (seed 001's oidc-client): ID token included in the identical answer.

async def _user_tokens(client: Any, ctx: Any, make_user: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    user = await make_user()
    rp = await make_client(ctx)
    code, verifier, _ = await authorize_code(client, rp["client_id"], user)
    return rp, _ok(await exchange(client, rp["client_id"], code, verifier))


async def _user_refresh(client: Any, rp: dict[str, Any], rt: str) -> Any:
    return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt,
                                             "client_id": rp["client_id"]})


async def test_two_tabs_of_a_user_share_one_answer_id_token_included(client, ctx, make_user):
    rp, tokens = await _user_tokens(client, ctx, make_user)
    answers = await asyncio.gather(*(_user_refresh(client, rp, tokens["refresh_token"]) for _ in range(2)))
    a, b = (_ok(r) for r in answers)
    assert a == b and a["id_token"] and a["refresh_token"] != tokens["refresh_token"]
    _ok(await _user_refresh(client, rp, a["refresh_token"]))


@STRICT
async def test_two_tabs_of_a_user_without_the_window_log_the_user_out(client, ctx, make_user):
    rp, tokens = await _user_tokens(client, ctx, make_user)
    answers = await asyncio.gather(*(_user_refresh(client, rp, tokens["refresh_token"]) for _ in range(2)))
    assert sorted(r.status_code for r in answers) == [200, 400]
    winner = next(r for r in answers if r.status_code == 200).json()
    _invalid_grant(await _user_refresh(client, rp, winner["refresh_token"]))


# Seed 001: "Expires after 60 days or when revoked" — no idle limit by default, the absolute one holds.

@STRICT
async def test_a_users_refresh_token_unused_for_59_days_still_works_and_dies_at_60(client, ctx, make_user,
                                                                                 clock):
    assert ctx.settings.refresh_idle_ttl == 0 and ctx.settings.user_refresh_ttl == 60 * DAY
    rp, tokens = await _user_tokens(client, ctx, make_user)
    clock.advance(59 * DAY)
    rt = _ok(await _user_refresh(client, rp, tokens["refresh_token"]))["refresh_token"]
    clock.advance(DAY - 1)
    rt = _ok(await _user_refresh(client, rp, rt))["refresh_token"]
    clock.advance(1)
    _invalid_grant(await _user_refresh(client, rp, rt))


@pytest.mark.parametrize("settings_overrides", [{"refresh_idle_ttl": 30 * DAY}], ids=["idle-30d"])
async def test_an_idle_limit_is_still_a_setting(client, ctx, make_user, clock):
    rp, tokens = await _user_tokens(client, ctx, make_user)
    clock.advance(30 * DAY - 1)
    rt = _ok(await _user_refresh(client, rp, tokens["refresh_token"]))["refresh_token"]
    clock.advance(30 * DAY)
    _invalid_grant(await _user_refresh(client, rp, rt))


@pytest.mark.parametrize(("field", "value"), [("refresh_idle_ttl", 59), ("refresh_idle_ttl", -1),
                                              ("refresh_reuse_grace", 61), ("refresh_reuse_grace", -1)])
def test_settings_bounds(field: str, value: int) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"environment": "development", "issuer": ISSUER, field: value})


def test_settings_defaults_follow_the_seed() -> None:
    s = Settings(environment="development", issuer=ISSUER)
    assert (s.refresh_idle_ttl, s.refresh_reuse_grace, s.user_refresh_ttl) == (0, 0, 60 * DAY)
    assert Settings(environment="development", issuer=ISSUER, refresh_idle_ttl=60).refresh_idle_ttl == 60


async def test_a_repeat_with_another_dpop_key_is_a_reuse_and_the_same_key_gets_the_answer(client, make_credential,
                                                                                         clock, ctx):
    """An answer given to a DPoP proof (RFC 9449) is given again only to a proof of the same key: a holder of
    the old refresh token without that key gets no copy of the bound answer, and the family ends."""
    from tests.dpop_keys import DPoPKey

    mine, other = DPoPKey("ES256"), DPoPKey("ES256")
    cred = await make_credential(refresh="1d")

    async def refresh(rt: str, key: DPoPKey | None) -> Any:
        headers = {"DPoP": key.proof("POST", ISSUER + "/token", iat=clock.now)} if key else {}
        return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                                 auth=cred.basic, headers=headers)

    rt1 = (await _cc(client, cred))["refresh_token"]
    first = _ok(await refresh(rt1, mine))
    assert first["token_type"] == "DPoP"
    assert _ok(await refresh(rt1, mine)) == {**first, "expires_in": first["expires_in"]}
    _invalid_grant(await refresh(rt1, other))  # another key: reuse, the family ends
    assert await _audit(ctx, "refresh_token.reuse_detected") == 1
    _invalid_grant(await refresh(first["refresh_token"], mine))

    rt2 = (await _cc(client, cred))["refresh_token"]
    _ok(await refresh(rt2, mine))
    _invalid_grant(await refresh(rt2, None))  # no proof at all: reuse too
