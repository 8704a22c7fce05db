"""services/keyring.py: a pre-published key starts signing when its time comes, without a query; a token naming a
kid another worker just created reloads the ring, at most once per cooldown (on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from keyturn.services.keyring import UNKNOWN_KID_COOLDOWN, KeyRing

pytestmark = pytest.mark.real_key_generation  # the keys a rotation makes are generated here (not the session's)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"key_prepublish_seconds": 300}


class Queries:
    """Counts the statements an engine runs."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)
        self.engine = engine

    def _seen(self, *args: Any) -> None:
        self.count += 1

    def remove(self) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._seen)


async def test_a_prepublished_key_is_published_at_once_and_signs_when_it_activates(ctx, clock):
    ring: KeyRing = ctx.keys
    old = ring.signing_key("ES256").kid
    t0 = clock()
    new = await ring.rotate("ES256", t0)
    assert new in {k["kid"] for k in ring.published(t0)}  # resource servers can fetch it before it signs
    assert ring.signing_key("ES256").kid == old
    await ring.maybe_reload(t0 + 298)  # a routine reload: still before activation
    assert ring.signing_key("ES256").kid == old
    queries = Queries(ctx.engine)
    try:
        await ring.maybe_reload(t0 + 300)  # 2 s after the last load: no reload due, but the activation passed
        assert ring.signing_key("ES256").kid == new
        assert queries.count == 0
    finally:
        queries.remove()
    stored = {k.kid: k for k in ring.stored}
    assert ring.is_signing(stored[new]) and not ring.is_signing(stored[old])
    assert ring.is_published(stored[old], t0 + 300)  # the old key's tokens are still alive


async def test_an_unknown_kid_reloads_the_ring_once_per_cooldown(ctx, clock):
    ours: KeyRing = ctx.keys
    other_worker = KeyRing(ctx.engine, ctx.settings)
    now = clock()
    await other_worker.reload(now)
    first = await other_worker.rotate("RS256", now)
    assert first not in ours.verification_keys
    assert await ours.reload_for_kid(first, now) is True
    assert first in ours.verification_keys
    second = await other_worker.rotate("RS256", now)
    queries = Queries(ctx.engine)
    try:
        assert await ours.reload_for_kid(second, now + UNKNOWN_KID_COOLDOWN / 2) is False  # junk cannot storm the db
        assert await ours.reload_for_kid(first, now) is False  # known: nothing to do
        assert await ours.reload_for_kid(["not", "a", "kid"], now + 60) is False
        assert queries.count == 0
    finally:
        queries.remove()
    assert await ours.reload_for_kid(second, now + UNKNOWN_KID_COOLDOWN) is True
