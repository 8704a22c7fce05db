"""keyturn.services.fapi without a server: who is held to the profile, and discovery's lists under the default."""

from __future__ import annotations

from dataclasses import replace

from keyturn.core.models import Client
from keyturn.services import fapi
from keyturn.services.discovery import metadata
from keyturn.settings import Settings

ISSUER = "http://keyturn.test"
CLIENT = Client(
    client_id="c1", kind="oidc", name="A", owner_id=None, account_id=None, role=None, secret_digest=None,
    prev_secret_digest=None, prev_secret_expires_at=None, is_public=False, public_id=None, domain=None,
    scope="openid", refresh=None, status=0, grant_types=("authorization_code",), redirect_uris=(),
    post_logout_redirect_uris=(), allowed_origins=(), first_party=False, refresh_enabled=True, id_token_alg=None,
    revoke_refresh_on_logout=True, expiration=None, created_at=0, updated_at=0)


def _settings(**kw: object) -> Settings:
    return Settings(environment="development", issuer=ISSUER, **kw)  # type: ignore[arg-type]


def test_the_server_default_holds_oidc_clients_and_credentials_only_by_their_flag() -> None:
    on, off = _settings(fapi2=True), _settings()
    credential = replace(CLIENT, kind="credential")
    assert fapi.applies(on, CLIENT) and not fapi.applies(off, CLIENT)
    assert not fapi.applies(on, credential) and fapi.applies(off, replace(credential, fapi2=True))
    assert fapi.code_ttl(_settings(fapi2=True, code_ttl=300), CLIENT) == 60
    assert fapi.code_ttl(_settings(code_ttl=300), CLIENT) == 300
    assert fapi.id_token_alg(on, CLIENT) == "ES256" and fapi.id_token_alg(off, CLIENT) == "RS256"
    assert fapi.refresh_grace(on, CLIENT) == 10 and fapi.refresh_grace(off, CLIENT) == 0
    assert not fapi.rotates_refresh(on, CLIENT) and fapi.rotates_refresh(_settings(fapi2=True,
                                                                                   fapi2_refresh_rotation=True), CLIENT)
    assert fapi.assertion_algs(on, CLIENT, ("ES256", "ES384", "RS256")) == ("ES256",)


def test_discovery_without_dpop_under_the_default_lists_no_dpop_algs() -> None:
    meta = metadata(_settings(fapi2=True, dpop=False, allow_plain_pkce=True))
    assert "dpop_signing_alg_values_supported" not in meta
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    plain = metadata(_settings(allow_plain_pkce=True))
    assert plain["code_challenge_methods_supported"] == ["S256", "plain"]
    assert "RS256" in plain["id_token_signing_alg_values_supported"] and "none" in plain[
        "token_endpoint_auth_methods_supported"]


def test_a_proof_alg_outside_fapi_is_refused_and_a_malformed_proof_left_to_the_proof_check() -> None:
    import pytest

    from keyturn.core.errors import InvalidDPoPProof
    from tests.dpop_keys import DPoPKey
    on = _settings(fapi2=True)
    es384 = DPoPKey("ES384").proof("POST", ISSUER + "/token")
    with pytest.raises(InvalidDPoPProof):
        fapi.check_proof_alg(on, CLIENT, [es384])
    fapi.check_proof_alg(_settings(), CLIENT, [es384])  # not held to the profile
    fapi.check_proof_alg(on, CLIENT, ["not-a-jws"])  # keyturn.core.dpop refuses it
    fapi.check_proof_alg(on, CLIENT, [es384, es384])  # two headers: refused there too
    fapi.check_proof_alg(on, CLIENT, [DPoPKey("PS256").proof("POST", ISSUER + "/token")])
