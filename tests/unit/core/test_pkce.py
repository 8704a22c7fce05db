"""core/pkce.py: RFC 7636 challenges and verifiers."""

from __future__ import annotations

from keyturn.core.pkce import challenge_problem, s256, valid_verifier, verifier_matches

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_rfc_example():
    assert s256(VERIFIER) == CHALLENGE
    assert verifier_matches(VERIFIER, CHALLENGE, "S256")
    assert not verifier_matches(VERIFIER[:-1] + "l", CHALLENGE, "S256")


def test_s256_is_required_unless_plain_is_allowed():
    assert challenge_problem(CHALLENGE, "S256", False) is None
    assert challenge_problem(None, "S256", False) == "code_challenge is required (PKCE, RFC 7636)"
    assert challenge_problem(VERIFIER, None, False) == "code_challenge_method must be S256; plain is not allowed"
    assert challenge_problem(CHALLENGE, "S512", True) == "code_challenge_method must be S256"
    assert challenge_problem(CHALLENGE + "=", "S256", False) == "code_challenge is malformed"


def test_a_plain_challenge_is_a_verifier():
    """§4.2: with plain, code_challenge = code_verifier, so it has the verifier's grammar (43-128 unreserved);
    §4.3: an omitted method means plain."""
    assert challenge_problem(VERIFIER, "plain", True) is None
    assert challenge_problem(VERIFIER, None, True) is None
    assert challenge_problem("short", "plain", True) == "code_challenge is malformed"
    assert challenge_problem(VERIFIER + "!", "plain", True) == "code_challenge is malformed"
    assert verifier_matches(VERIFIER, VERIFIER, "plain") and not valid_verifier("a" * 129)
