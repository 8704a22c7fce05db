"""RFC 9449 §4.3: every check of a DPoP proof, each failing on its own; RFC 7638 thumbprints; ``ath``."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from keyturn.core import dpop
from keyturn.core.dpop import ProofInvalid, Rules, access_token_hash, normalize_htu, thumbprint, verify_proof
from tests.dpop_keys import DPoPKey

URL = "https://as.example/token"
RULES = Rules(algorithms=dpop.SAFE_ALGS, window=60, leeway=10)


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey("ES256")


def check(proof: str, *, method: str = "POST", url: str = URL, now: float | None = None,
          token: str | None = None, rules: Rules = RULES) -> dpop.Proof:
    return verify_proof(proof, method=method, url=url, now=time.time() if now is None else now, rules=rules,
                        access_token=token)


def test_rfc7638_example_thumbprint() -> None:
    # RFC 7638 §3.1's RSA key and its thumbprint
    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3o"
         "knjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZ"
         "Hzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
         "kEgU8awapJzKnqDKgw")
    jwk = {"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_ignores_optional_members_and_refuses_other_key_types(key: DPoPKey) -> None:
    assert thumbprint({**key.jwk, "kid": "x", "use": "sig"}) == key.jkt
    for bad in ({"kty": "oct", "k": "AAAA"}, {"kty": "EC", "crv": "P-256", "x": "a"}, {"kty": 1}):
        with pytest.raises(ProofInvalid):
            thumbprint(bad)


def test_ath_is_base64url_sha256_of_the_token() -> None:
    # RFC 9449 §7.1's example
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == \
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


def test_a_valid_proof_answers_its_key_and_jti(key: DPoPKey) -> None:
    found = check(key.proof("POST", URL, jti="j1"))
    assert (found.jkt, found.jti, found.nonce) == (key.jkt, "j1", None)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256", "EdDSA"])
def test_each_default_algorithm_is_accepted(alg: str) -> None:
    k = DPoPKey(alg)
    assert check(k.proof("POST", URL)).jkt == k.jkt


def test_not_a_jwt_is_refused() -> None:
    for junk in ("", "a.b", "x" * 5000, "e30.e30.AA"):
        with pytest.raises(ProofInvalid):
            check(junk)


def test_typ_must_be_dpop_jwt(key: DPoPKey) -> None:
    for typ in ("JWT", "at+jwt", "application/dpop+jwt"):
        with pytest.raises(ProofInvalid, match="typ"):
            check(key.proof("POST", URL, header={"typ": typ}))


def test_rs256_is_refused_by_default_and_symmetric_never() -> None:
    rsa_key = DPoPKey("PS256")
    with pytest.raises(ProofInvalid, match="alg"):
        check(rsa_key.proof("POST", URL, alg="RS256"))
    assert check(rsa_key.proof("POST", URL, alg="RS256"),
                 rules=Rules(algorithms=("RS256",), window=60, leeway=10)).jkt == rsa_key.jkt
    hs = jwt.encode({"jti": "j", "htm": "POST", "htu": URL, "iat": int(time.time())}, "secret" * 6,
                    algorithm="HS256", headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": "c2VjcmV0"}})
    with pytest.raises(ProofInvalid, match="alg"):
        check(hs)


def test_alg_not_in_the_configured_list_is_refused(key: DPoPKey) -> None:
    with pytest.raises(ProofInvalid, match="alg"):
        check(key.proof("POST", URL), rules=Rules(algorithms=("EdDSA",)))


def test_jwk_is_required_and_must_be_public(key: DPoPKey) -> None:
    with pytest.raises(ProofInvalid, match="jwk"):
        check(key.proof("POST", URL, header={"jwk": None}))
    private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.private))
    assert "d" in private
    with pytest.raises(ProofInvalid, match="private"):
        check(key.proof("POST", URL, header={"jwk": private}))


def test_jwk_of_another_type_than_alg_is_refused(key: DPoPKey) -> None:
    ed = DPoPKey("EdDSA")
    with pytest.raises(ProofInvalid):
        check(key.proof("POST", URL, header={"jwk": ed.jwk}))


def test_signature_by_another_key_is_refused(key: DPoPKey) -> None:
    other = DPoPKey("ES256")
    with pytest.raises(ProofInvalid, match="signature"):
        check(key.proof("POST", URL, header={"jwk": other.jwk}))


def test_tampered_payload_is_refused(key: DPoPKey) -> None:
    h, _, s = key.proof("POST", URL).split(".")
    payload = base64.urlsafe_b64encode(json.dumps({"jti": "x", "htm": "POST", "htu": URL,
                                                   "iat": int(time.time())}).encode()).rstrip(b"=").decode()
    with pytest.raises(ProofInvalid, match="signature"):
        check(f"{h}.{payload}.{s}")


def test_jti_is_required(key: DPoPKey) -> None:
    for jti in (None, 5, "", "x" * 300):
        with pytest.raises(ProofInvalid, match="jti"):
            check(key.proof("POST", URL, claims={"jti": jti}))


def test_htm_must_be_the_request_method(key: DPoPKey) -> None:
    with pytest.raises(ProofInvalid, match="htm"):
        check(key.proof("GET", URL))
    with pytest.raises(ProofInvalid, match="htm"):
        check(key.proof("post", URL))


def test_htu_must_be_the_request_uri_without_query_or_fragment(key: DPoPKey) -> None:
    assert check(key.proof("POST", "https://AS.example:443/token?x=1#f")).jkt == key.jkt
    for wrong in ("https://as.example/token2", "http://as.example/token", "https://evil.example/token",
                  "https://as.example:8443/token", "/token", "not a url", "https://[::1/x"):
        with pytest.raises(ProofInvalid, match="htu"):
            check(key.proof("POST", wrong))
    with pytest.raises(ProofInvalid, match="htu"):
        check(key.proof("POST", URL, claims={"htu": 7}))


def test_normalize_htu() -> None:
    assert normalize_htu("HTTPS://Example.COM:443") == "https://example.com/"
    assert normalize_htu("http://example.com:8080/a?b") == "http://example.com:8080/a"
    assert normalize_htu("http://[::1]:80/a") == "http://[::1]/a"
    assert normalize_htu("ftp://example.com/") is None
    assert normalize_htu("http://example.com:99999/") is None


def test_iat_must_be_within_the_window(key: DPoPKey) -> None:
    now = time.time()
    assert check(key.proof("POST", URL, iat=now - 65), now=now)  # 60 s window + 10 s leeway
    assert check(key.proof("POST", URL, iat=now + 9), now=now)
    for iat in (now - 75, now + 15):
        with pytest.raises(ProofInvalid, match="iat"):
            check(key.proof("POST", URL, iat=iat), now=now)
    for bad in ("soon", True, None):
        with pytest.raises(ProofInvalid, match="iat"):
            check(key.proof("POST", URL, claims={"iat": bad}))


def test_ath_must_match_the_presented_token(key: DPoPKey) -> None:
    assert check(key.proof("GET", URL, token="tok"), method="GET", token="tok")
    with pytest.raises(ProofInvalid, match="ath"):
        check(key.proof("GET", URL, token="other"), method="GET", token="tok")
    with pytest.raises(ProofInvalid, match="ath"):
        check(key.proof("GET", URL), method="GET", token="tok")


def test_nonce_is_returned_and_must_be_a_string(key: DPoPKey) -> None:
    assert check(key.proof("POST", URL, nonce="n1")).nonce == "n1"
    with pytest.raises(ProofInvalid, match="nonce"):
        check(key.proof("POST", URL, claims={"nonce": 3}))


def test_duplicate_members_and_crit_are_refused(key: DPoPKey) -> None:
    with pytest.raises(ProofInvalid):
        check(key.proof("POST", URL, header={"crit": ["x"], "x": 1}))


def test_a_small_rsa_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    small = DPoPKey("PS256")
    small.private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    small.jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(small.private.public_key()))
    with pytest.warns(Warning, match="1024 bits"):  # PyJWT signs it, with a warning
        proof = small.proof("POST", URL)
    with pytest.raises(ProofInvalid, match="signature"):
        check(proof)


def test_a_jwk_that_is_no_key_is_refused(key: DPoPKey) -> None:
    off_curve = {**key.jwk, "x": key.jwk["y"]}  # not a point of P-256: PyJWT cannot load it
    with pytest.raises(ProofInvalid, match="signature"):
        check(key.proof("POST", URL, header={"jwk": off_curve}))
