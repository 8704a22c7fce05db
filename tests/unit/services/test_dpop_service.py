"""services/dpop.py: the jti replay cache across two workers through the real Redis, fail-closed when Redis
cannot answer, the stateless nonces (every node accepts what another handed out), the binding checks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from keyturn.core import dpop
from keyturn.core.errors import DPoPRefused, InvalidDPoPProof, TemporarilyUnavailable, UseDPoPNonce
from keyturn.services import dpop as service
from keyturn.services.shared import Shared
from keyturn.settings import Settings
from tests.conftest import Clock
from tests.dpop_keys import DPoPKey
from tests.redisproc import REDIS_URL, redis_prefix, unused_port_url

__all__ = ["redis_prefix"]  # fixture
URL = "https://as.example/token"


def settings(**kw: Any) -> Settings:
    return Settings(issuer="https://as.example", **kw)


def worker(s: Settings, shared: Shared) -> Any:
    return SimpleNamespace(settings=s, shared=shared)


def client(dpop_bound: bool = False) -> Any:
    return SimpleNamespace(dpop_bound_access_tokens=dpop_bound, fapi2=False, kind="oidc")


async def test_a_proof_used_at_one_worker_is_a_replay_at_another_through_redis(redis_prefix: str,
                                                                              clock: Clock) -> None:
    s = settings()
    a, b = Shared(REDIS_URL, redis_prefix, 0.5, clock=clock), Shared(REDIS_URL, redis_prefix, 0.5, clock=clock)
    key = DPoPKey()
    try:
        proof = key.proof("POST", URL, iat=clock.now)
        found = await service.check_proof(worker(s, a), [proof], method="POST", url=URL, now=clock.now)
        assert found.jkt == key.jkt
        with pytest.raises(dpop.ProofInvalid, match="replayed"):
            await service.check_proof(worker(s, b), [proof], method="POST", url=URL, now=clock.now)
        # the same jti under another key is another proof
        other = DPoPKey().proof("POST", URL, iat=clock.now, jti=found.jti)
        assert await service.check_proof(worker(s, b), [other], method="POST", url=URL, now=clock.now)
    finally:
        await a.close()
        await b.close()


async def test_the_replay_check_fails_closed_when_redis_is_unreachable(clock: Clock) -> None:
    shared = Shared(unused_port_url(), "t:", 0.2, clock=clock)
    try:
        with pytest.raises(TemporarilyUnavailable):
            await service.token_request_jkt(worker(settings(), shared), [DPoPKey().proof("POST", URL, iat=clock.now)],
                                            client=client(), path="/token", now=clock.now)
    finally:
        await shared.close()


async def test_token_request_errors(clock: Clock) -> None:
    shared = Shared(None, clock=clock)
    ctx = worker(settings(), shared)
    assert await service.token_request_jkt(ctx, [], client=client(), path="/token", now=clock.now) is None
    with pytest.raises(InvalidDPoPProof):
        await service.token_request_jkt(ctx, [], client=client(True), path="/token", now=clock.now)
    with pytest.raises(InvalidDPoPProof):
        await service.token_request_jkt(ctx, ["x", "y"], client=client(), path="/token", now=clock.now)
    off = worker(settings(dpop=False), shared)
    with pytest.raises(InvalidDPoPProof):  # a client that requires DPoP gets nothing while DPoP is off
        await service.token_request_jkt(off, ["x"], client=client(True), path="/token", now=clock.now)


def test_nonces_are_stateless_and_expire() -> None:
    s = settings(dpop_nonce_required=True, dpop_nonce_secret="s" * 32, dpop_nonce_lifetime=60)
    other_node = settings(dpop_nonce_required=True, dpop_nonce_secret="s" * 32, dpop_nonce_lifetime=60)
    n = service.new_nonce(s, 1_000_000.0)
    assert service.nonce_valid(other_node, n, 1_000_000.0)
    assert service.nonce_valid(s, n, 1_000_000.0 + 60)  # the previous slot's
    assert not service.nonce_valid(s, n, 1_000_000.0 + 180)
    assert not service.nonce_valid(s, None, 1_000_000.0)
    assert not service.nonce_valid(settings(dpop_nonce_secret="t" * 32), n, 1_000_000.0)


def test_nonces_need_a_secret() -> None:
    with pytest.raises(ValueError, match="dpop_nonce_secret"):
        settings(dpop_nonce_required=True)


def test_the_algorithm_setting_is_checked() -> None:
    assert settings(dpop_signing_algs="ES256, EdDSA").dpop_signing_algs == ("ES256", "EdDSA")
    for bad in ("HS256", "none", ""):
        with pytest.raises(ValueError):
            settings(dpop_signing_algs=bad)


@pytest.mark.parametrize(("claims", "scheme", "error"), [
    ({"cnf": {"jkt": "x"}}, "bearer", "invalid_token"),
    ({}, "dpop", "invalid_token"),
    ({"cnf": "x"}, "dpop", "invalid_token"),
])
async def test_binding_refusals(clock: Clock, claims: dict[str, Any], scheme: str, error: str) -> None:
    ctx = worker(settings(), Shared(None, clock=clock))
    with pytest.raises(DPoPRefused) as refused:
        await service.check_binding(ctx, claims, scheme=scheme, token="t", proofs=[], method="GET", url=URL,
                                    now=clock.now)
    assert refused.value.error == error


async def test_an_unbound_bearer_token_passes(clock: Clock) -> None:
    ctx = worker(settings(), Shared(None, clock=clock))
    await service.check_binding(ctx, {}, scheme="bearer", token="t", proofs=[], method="GET", url=URL, now=clock.now)


async def test_token_endpoint_nonce_error_carries_a_nonce(clock: Clock) -> None:
    s = settings(dpop_nonce_required=True, dpop_nonce_secret="s" * 32)
    with pytest.raises(UseDPoPNonce) as refused:
        await service.token_request_jkt(worker(s, Shared(None, clock=clock)),
                                        [DPoPKey().proof("POST", URL, iat=clock.now)], client=client(),
                                        path="/token", now=clock.now)
    assert refused.value.nonce == service.new_nonce(s, clock.now)

