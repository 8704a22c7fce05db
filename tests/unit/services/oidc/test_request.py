"""The authorization request's parsing and its stored form (services/oidc/request.py)."""

from __future__ import annotations

from keyturn.services.oidc.request import AuthorizationRequest, error_state
from keyturn.web.params import collect


def test_repeated_state_is_not_echoed():
    parsed = collect([("state", "a"), ("state", "b")])
    assert error_state(parsed.values, parsed.repeated) is None
    parsed = collect([("state", "a"), ("scope", "openid"), ("scope", "email")])
    assert error_state(parsed.values, parsed.repeated) == "a"
    assert error_state({"state": "s" * 5000}, set()) is None
    assert error_state({}, set()) is None


def test_interaction_stored_before_redirect_uri_sent_existed_still_loads():
    stored = {"client_id": "c", "redirect_uri": "https://app.example.test/cb", "scope": ["openid"], "state": None,
              "nonce": None, "code_challenge": "x" * 43, "code_challenge_method": "S256", "prompt": [],
              "max_age": None, "login_hint": None}
    areq = AuthorizationRequest.from_json(stored)
    assert areq.redirect_uri_sent is None and areq.scope == ("openid",)
    again = AuthorizationRequest.from_json({**stored, "redirect_uri_sent": True})
    assert again.redirect_uri_sent is True
    assert AuthorizationRequest.from_json(again.to_json()) == again



def test_the_pushed_mark_is_stored_only_when_set():
    """RFC 9126: the digest of the request_uri rides with the interaction until the code is issued; absent
    otherwise, so a node of the previous version loads the interaction during a rolling deploy."""
    areq = AuthorizationRequest(client_id="c", redirect_uri="https://app.example.test/cb", scope=("openid",),
                                state=None, nonce=None, code_challenge="x" * 43, code_challenge_method="S256",
                                prompt=(), max_age=None, login_hint=None, redirect_uri_sent=False)
    assert "pushed" not in areq.to_json()
    pushed = AuthorizationRequest.from_json({**areq.to_json(), "pushed": "d" * 64})
    assert pushed.pushed == "d" * 64 and AuthorizationRequest.from_json(pushed.to_json()) == pushed
