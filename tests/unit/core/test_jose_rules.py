"""core/jose.py: what every verifier refuses (RFC 7515, RFC 7519, RFC 8725), whatever signed the token."""

from __future__ import annotations

import base64
import json

import pytest

from keyturn.core import jose

ISSUER = "https://auth.example.test"
NOW = 1_700_000_000.0


def _key(alg: str = "ES256") -> jose.SigningKey:
    private = jose.generate_private_key(alg)
    jwk = jose.public_jwk(private, alg)
    return jose.SigningKey(jwk["kid"], alg, private, jwk)


def _claims(**extra: object) -> dict[str, object]:
    return {"iss": ISSUER, "sub": "u1", "iat": int(NOW), "exp": int(NOW) + 60, **extra}


def _b64(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(header: object, payload: object) -> str:
    return f"{_b64(header)}.{_b64(payload)}.c2ln"


def test_only_the_allowed_algorithms_have_keys():
    with pytest.raises(ValueError, match="unsupported signing algorithm"):
        jose.generate_private_key("HS256")  # RFC 8725 §3.1: no symmetric algorithm next to asymmetric ones


def test_a_key_is_published_only_under_its_own_algorithm():
    with pytest.raises(ValueError, match="does not match"):
        jose.public_jwk(jose.generate_private_key("ES256"), "RS256")


def test_claims_must_be_a_json_object():
    """RFC 7519 §7.2 step 10: the payload is a JSON object."""
    with pytest.raises(jose.TokenInvalid, match="not a JSON object"):
        jose.parse_jws(_unsigned({"alg": "ES256", "kid": "k"}, ["iss", ISSUER]))


def test_a_critical_header_parameter_is_refused():
    """RFC 7515 §4.1.11: a recipient that does not understand a critical extension MUST reject the JWS."""
    with pytest.raises(jose.TokenInvalid, match="critical header"):
        jose.parse_jws(_unsigned({"alg": "ES256", "kid": "k", "crit": ["exp"], "exp": 1}, _claims()))


@pytest.mark.parametrize(("leeway", "exp_leeway"), [(61, 0), (0, 61), (-1, 0)])
def test_the_leeway_is_bounded(leeway: float, exp_leeway: float):
    """R68: a bounded clock leeway, at most 60 s."""
    with pytest.raises(ValueError, match="leeway"):
        jose.Expect(issuer=ISSUER, typ="jwt", leeway=leeway, exp_leeway=exp_leeway)


def test_without_an_expected_typ_any_typ_passes_the_header_check():
    key = _key()
    token = jose.sign(_claims(), key, typ="anything")
    assert jose.verify(token, {key.kid: key}, jose.Expect(issuer=ISSUER, typ=None), NOW)["sub"] == "u1"
    with pytest.raises(jose.TokenInvalid, match="wrong typ"):
        jose.verify(token, {key.kid: key}, jose.Expect(issuer=ISSUER, typ="jwt"), NOW)


def test_the_headers_alg_must_be_the_keys():
    """RFC 8725 §3.1: the algorithm is the key's, never the one the token claims."""
    es, rs = _key("ES256"), _key("RS256")
    token = jose.sign(_claims(), rs)
    parsed = jose.parse_jws(token)
    with pytest.raises(jose.TokenInvalid, match="does not match the key"):
        jose.verify_parsed(parsed, "ES256", es.public, jose.Expect(issuer=ISSUER, typ="jwt"), NOW)


def test_a_key_of_the_wrong_type_is_a_bad_signature_not_a_crash():
    es, rs = _key("ES256"), _key("RS256")
    parsed = jose.parse_jws(jose.sign(_claims(), es))
    with pytest.raises(jose.TokenInvalid, match="bad signature"):
        jose.verify_parsed(parsed, "ES256", rs.public, jose.Expect(issuer=ISSUER, typ="jwt"), NOW)


def test_a_key_is_taken_only_by_an_exact_kid_of_our_set():
    key = _key()
    token = jose.sign(_claims(), key)
    expect = jose.Expect(issuer=ISSUER, typ="jwt")
    for keys in ({}, {key.kid.upper(): key}, {key.kid + " ": key}):
        with pytest.raises(jose.TokenInvalid, match="unknown kid"):
            jose.verify(token, keys, expect, NOW)
    assert jose.verify(token, {key.kid: key}, expect, NOW)["iss"] == ISSUER
