"""The wire shapes (keyturn.wire): the exact keys, key order and null/absent rules each answer has had.

The HTTP API and the CLI both send these, so these are the bytes a client sees (seed 000 §1.3.1 for the
credential; a secret appears only in the answer that issues it, R38)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from keyturn.core.errors import ApiError
from keyturn.core.models import Account, ApiKey, Client, Grantable, Member, Membership, Principal, StoredKey, User
from keyturn.wire.accounts import AccountOut, MemberOut, MembershipOut
from keyturn.wire.api_keys import ApiKeyOut
from keyturn.wire.common import ErrorOut, iso, plain
from keyturn.wire.credentials import CredentialEnvelope, CredentialOut, DeletedEnvelope, GrantableScope
from keyturn.wire.decision import AuthorizeOut, ForwardAllowed, ForwardRefused, PrincipalOut
from keyturn.wire.keys import SigningKeyOut
from keyturn.wire.oidc_clients import ClientOut
from keyturn.wire.tokens import AccessTokenOut
from keyturn.wire.users import UserCreatedOut

T = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z


CREDENTIAL = Client(
    client_id="cid", kind="credential", name="my.app.cu", owner_id="u1", account_id="a1", role="merchant-terminal",
    secret_digest="d", prev_secret_digest=None, prev_secret_expires_at=None, is_public=False, public_id="17",
    domain=None, scope="ALLOW_OTA_CHARGE", refresh="1d", status=0, grant_types=("client_credentials",),
    redirect_uris=(), post_logout_redirect_uris=(), allowed_origins=(), first_party=False, refresh_enabled=True,
    id_token_alg=None, revoke_refresh_on_logout=False, expiration=None, created_at=T, updated_at=T + 1)


def client(**changes: Any) -> Client:
    return replace(CREDENTIAL, **changes)


def test_times_are_utc_with_milliseconds_and_z() -> None:
    assert iso(T) == "2023-11-14T22:13:20.250Z"
    assert iso(None) is None


def test_a_credential_has_seed_000s_keys_in_order_and_a_null_password_unless_just_issued() -> None:
    shown = plain(CredentialOut.of(client(), "ktcs_secret"))
    assert list(shown) == ["name", "domain", "scope", "ownerId", "accountId", "role", "prefix", "refresh", "type",
                           "status", "username", "password", "public", "groupId", "updatedAt", "createdAt",
                           "expiration", "redirect", "rateLimit"]
    assert shown["username"] == "cid" and shown["password"] == "ktcs_secret"
    assert shown["domain"] == "" and shown["prefix"] == "Bearer" and shown["type"] == 1
    assert shown["createdAt"] == "2023-11-14T22:13:20.250Z" and shown["redirect"] is None
    listed = plain(CredentialOut.of(client(redirect_uris=("https://a.test/cb", "https://b.test/cb"))))
    assert listed["password"] is None and listed["redirect"] == "https://a.test/cb https://b.test/cb"


def test_envelopes_put_status_first() -> None:
    env = plain(CredentialEnvelope(data=CredentialOut.of(client())))
    assert list(env) == ["status", "data"] and env["status"] == "OK"
    assert plain(DeletedEnvelope()) == {"status": "OK", "data": None}


def test_an_api_keys_secret_is_absent_not_null_outside_the_create_answer() -> None:
    key = ApiKey(id="k1", account_id="a1", name="till", role="merchant-terminal", hint="kt_test_abcd…wxyz",
                 enabled=True, created_at=T, created_by="operator", updated_at=T, last_used_at=None)
    listed = plain(ApiKeyOut.of(key))
    assert "secret" not in listed and listed["lastUsedAt"] is None  # other nulls stay
    assert list(plain(ApiKeyOut.of(key, "kt_test_x")))[-1] == "secret"
    assert "secret" not in plain([ApiKeyOut.of(key)])[0]


def test_an_oidc_clients_secret_is_absent_for_a_public_client_even_inside_an_envelope() -> None:
    from keyturn.wire.oidc_clients import ClientEnvelope

    public = client(kind="oidc", is_public=True, secret_digest=None)
    shown = plain(ClientEnvelope(data=ClientOut.of(public)))["data"]
    assert "client_secret" not in shown
    assert shown["token_endpoint_auth_method"] == "none" and shown["id_token_signed_response_alg"] == "RS256"
    confidential = plain(ClientOut.of(client(kind="oidc", id_token_alg="ES256"), "ktcs_s"))
    assert confidential["client_secret"] == "ktcs_s" and confidential["type"] == "confidential"
    assert confidential["token_endpoint_auth_method"] == "client_secret_basic"


def test_accounts_members_and_memberships() -> None:
    account = Account(id="a1", name="Acme", type="org", test=True, flags=("f",), subscriptions=(), created_at=T,
                      created_by="operator", updated_at=T, updated_by=None)
    assert plain(AccountOut.of(account)) == {
        "id": "a1", "name": "Acme", "type": "org", "test": True, "flags": ["f"], "subscriptions": [],
        "createdAt": iso(T), "createdBy": "operator", "modifiedAt": iso(T), "modifiedBy": None}
    member = Member(user_id="u1", role="account-owner", created_at=T, email=None, preferred_username="ann")
    assert list(plain(MemberOut.of(member))) == ["userId", "email", "preferredUsername", "role", "createdAt"]
    held = Membership(account_id="a1", user_id="u1", role="account-owner", account_name="Acme", account_type="org")
    assert plain(MembershipOut.of(held)) == {"accountId": "a1", "accountName": "Acme", "accountType": "org",
                                             "role": "account-owner"}


def test_the_catalogue_entry() -> None:
    assert plain(GrantableScope.of(Grantable("payments:read", "Read", "permission"))) == {
        "name": "payments:read", "description": "Read", "source": "permission"}


def test_in_a_decision_a_user_shows_the_account_decided_on_and_a_key_its_own_binding() -> None:
    user = Principal(kind="user", id="u1", client_id="app")
    key = Principal(kind="api_key", id="k1", account_id="a1", role="merchant-terminal")
    assert plain(PrincipalOut.decided(user, "a2", "account-owner")) == {
        "kind": "user", "id": "u1", "accountId": "a2", "role": "account-owner", "clientId": "app"}
    assert plain(PrincipalOut.decided(key, "a2", None)) == plain(PrincipalOut.of(key)) == {
        "kind": "api_key", "id": "k1", "accountId": "a1", "role": "merchant-terminal", "clientId": None}
    answer = AuthorizeOut(allowed=False, principal=PrincipalOut.of(key), reason="no", accountId="a2")
    assert list(plain(answer)) == ["allowed", "principal", "reason", "accountId"]
    assert plain(ForwardRefused(reason="no")) == {"allowed": False, "reason": "no"}
    assert list(plain(ForwardAllowed(principal=PrincipalOut.of(key)))) == ["allowed", "principal"]


def test_the_error_shape_is_the_apis_and_the_clis() -> None:
    body = plain(ErrorOut.of(ApiError(400, "INVALID_SCOPE", "nope")))
    assert json.dumps(body) == '{"status": "ERROR", "error": "INVALID_SCOPE", "message": "nope"}'


def test_a_signing_key_listing_has_no_key_material() -> None:
    stored = StoredKey(kid="k", alg="ES256", private_pem="PEM", public_jwk={"kid": "k"}, created_at=T,
                       activates_at=T, retired_at=None)
    shown = plain(SigningKeyOut.of(stored, published=True, signing=False))
    assert shown == {"kid": "k", "alg": "ES256", "created_at": T, "activates_at": T, "retired_at": None,
                     "published": True, "signing": False}


def test_a_created_user_has_the_clis_keys_in_order_with_nulls_kept() -> None:
    user = User(id="u1", email="ana@example.test", phone_number=None, given_name="Ana", family_name=None,
                preferred_username=None, email_verified=False, phone_number_verified=False, password_hash="h",
                disabled=False, created_at=T, updated_at=T)
    shown = plain(UserCreatedOut.of(user, "a1"))
    assert list(shown.items()) == [("id", "u1"), ("email", "ana@example.test"), ("phone_number", None),
                                   ("preferred_username", None), ("individualAccountId", "a1")]
    assert "password_hash" not in json.dumps(shown) and "given_name" not in shown  # only what was always printed


def test_an_operator_minted_token_is_rfc_6749_5_1s_answer() -> None:
    shown = plain(AccessTokenOut(access_token="eyJ.x.y", expires_in=600, scope=""))
    assert list(shown.items()) == [("access_token", "eyJ.x.y"), ("token_type", "Bearer"), ("expires_in", 600),
                                   ("scope", "")]
