"""The client-metadata parser (RFC 7591 §2): every supported name maps onto Keyturn's client, anything else
is refused naming it; the credential endpoint's RFC 7591 names map onto seed 000's."""

from __future__ import annotations

from typing import Any

import pytest

from keyturn.core.errors import ApiError
from keyturn.core.secrets import mask_secrets, new_initial_access_token, new_registration_access_token
from keyturn.services.oidc import metadata
from keyturn.services.oidc.metadata import SUPPORTED, credential_fields, credential_tls, parse, uses_rfc7591
from tests.certs import self_signed

URI = "https://app.example.test/cb"


def _refused(body, *, dynamic=True, code="INVALID_CLIENT_METADATA") -> str:
    with pytest.raises(ApiError) as exc:
        parse(body, dynamic=dynamic)
    assert exc.value.code == code
    return exc.value.message


def test_the_table_is_data_one_line_per_name():
    assert all(isinstance(m, metadata.Meta) for m in SUPPORTED.values())
    assert {"redirect_uris", "token_endpoint_auth_method", "grant_types", "client_name"} <= set(SUPPORTED)
    assert "software_statement" not in SUPPORTED
    assert SUPPORTED["jwks"].kind == "jwks" and "private_key_jwt" in SUPPORTED["token_endpoint_auth_method"].choices
    assert SUPPORTED["dpop_bound_access_tokens"].kind == "bool"  # RFC 9449 §5.2 (docs/dpop.md)


def test_dynamic_defaults_are_the_rfcs():
    meta = parse({"redirect_uris": [URI]}, dynamic=True)
    assert meta.auth_method == "client_secret_basic" and not meta.public
    assert meta.refresh_tokens is False and meta.name == "app.example.test" and not meta.first_party
    assert meta.registered() == {"token_endpoint_auth_method": "client_secret_basic"}
    assert parse({}, dynamic=True).name == "unnamed client"


def test_management_defaults_are_keyturns():
    meta = parse({"name": "RP", "redirect_uris": [URI]}, dynamic=False)
    assert meta.public and meta.auth_method is None and meta.refresh_tokens and meta.registered() is None
    assert parse({"name": "RP", "type": "confidential", "refresh_tokens": False}, dynamic=False).public is False
    assert parse({"client_name": "RP", "token_endpoint_auth_method": "none"}, dynamic=False).public
    assert parse({"name": "RP", "first_party": True, "allowed_origins": ["https://a.example"]},
                 dynamic=False).origins == ["https://a.example"]
    assert parse({"name": "RP", "scope": None}, dynamic=False).scope is None  # null: not sent


def test_info_is_kept_as_registered():
    meta = parse({"redirect_uris": [URI], "client_uri": "https://a.example", "contacts": ["a@b.example"],
                  "software_id": "x", "application_type": "native"}, dynamic=True)
    assert meta.info == {"client_uri": "https://a.example", "contacts": ["a@b.example"], "software_id": "x",
                         "application_type": "native"}


@pytest.mark.parametrize(("body", "named"), [
    ({"jwks_uri": "https://a.example/j"}, "jwks_uri"),
    ({"name": "x"}, "name"),  # Keyturn's own names are the operator's
    ({"first_party": True}, "first_party"),
    ({"\x00bad": 1}, "bad"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "private_key_jwt"),
    ({"grant_types": []}, "grant_types"),
    ({"grant_types": "authorization_code"}, "grant_types"),
    ({"grant_types": ["refresh_token"]}, "authorization_code"),
    ({"response_types": ["token"]}, "token"),
    ({"client_name": ""}, "client_name"),
    ({"client_name": "a\x00b"}, "client_name"),
    ({"client_name": "x" * 2001}, "client_name"),
    ({"client_uri": "ftp://a.example"}, "client_uri"),
    ({"client_uri": "https://a.example/#f"}, "client_uri"),
    ({"contacts": ["x"] * 51}, "contacts"),
    ({"post_logout_redirect_uris": "https://a.example"}, "post_logout_redirect_uris"),
    ({"token_endpoint_auth_method": "tls_client_auth"}, "tls_client_auth_subject_dn"),
    ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "cn=x"},
     "tls_client_auth_subject_dn"),
    ({"tls_client_auth_subject_dn": "CN=x"}, "tls_client_auth_subject_dn"),
    ({"tls_client_certificate_bound_access_tokens": 1}, "tls_client_certificate_bound_access_tokens"),
])
def test_refusals_name_the_field(body, named):
    assert named in _refused(body)


def test_keyturn_only_refusals():
    assert "true or false" in _refused({"name": "x", "first_party": "yes"}, dynamic=False)
    assert "not both" in _refused({"name": "x", "client_name": "y"}, dynamic=False)
    assert "name" in _refused({"redirect_uris": [URI]}, dynamic=False, code="INVALID_REQUEST")
    assert "list of strings" in _refused({"redirect_uris": [1]}, code="INVALID_REDIRECT_URI")
    assert "list of strings" in _refused({"post_logout_redirect_uris": [3]}, code="INVALID_REDIRECT_URI")
    assert "list of strings" in _refused({"name": "x", "allowed_origins": [3]}, dynamic=False)


def test_new_prefixes_are_masked_in_logs():
    for token in (new_initial_access_token(), new_registration_access_token()):
        masked = mask_secrets(f"Authorization: Bearer {token}")
        assert token not in masked and token[:5] + "…#" in masked


def test_credential_fields_map_rfc7591_names_to_the_seeds():
    assert not uses_rfc7591({"name": "x", "scope": "a"})
    assert uses_rfc7591({"client_name": "x"}) and uses_rfc7591({"grant_types": ["client_credentials"]})
    body, method = credential_fields({"client_name": "x", "redirect_uris": [URI]}, "1d")
    assert body == {"name": "x", "redirect": [URI]} and method is None
    body, method = credential_fields({"name": "x", "grant_types": ["client_credentials"],
                                      "token_endpoint_auth_method": "client_secret_post"}, "1d")
    assert body == {"name": "x", "refresh": None} and method == "client_secret_post"
    body, _ = credential_fields({"name": "x", "grant_types": ["client_credentials", "refresh_token"]}, "1d")
    assert "refresh" not in body  # the server default applies
    body, _ = credential_fields({"name": "x", "grant_types": ["client_credentials", "refresh_token"],
                                 "refresh": "12h"}, "1d")
    assert body["refresh"] == "12h"
    body, _ = credential_fields({"name": "x", "grant_types": ["client_credentials"], "refresh": "forever"}, "1d")
    assert body["refresh"] == "forever"  # the seed's own check refuses it
    with pytest.raises(ApiError, match="send refresh"):
        credential_fields({"name": "x", "grant_types": ["client_credentials", "refresh_token"]}, "none")
    with pytest.raises(ApiError, match="send refresh"):
        credential_fields({"name": "x", "grant_types": ["client_credentials", "refresh_token"]}, None)


def test_rfc8705_metadata_is_kept_normalised():
    meta = parse({"redirect_uris": [URI], "token_endpoint_auth_method": "tls_client_auth",
                  "tls_client_auth_subject_dn": "CN=a\\2db,O=Org", "tls_client_certificate_bound_access_tokens": True},
                 dynamic=True)
    assert not meta.public and meta.auth_method == "tls_client_auth"
    assert meta.registered() == {"token_endpoint_auth_method": "tls_client_auth",
                                 "tls_client_auth_subject_dn": "CN=a-b,O=Org",
                                 "tls_client_certificate_bound_access_tokens": True}


def test_credential_tls_metadata():
    assert credential_tls({"name": "x"}) == {}
    assert credential_tls({"token_endpoint_auth_method": "tls_client_auth",
                           "tls_client_auth_subject_dn": "CN=a"}) == {"tls_client_auth_subject_dn": "CN=a"}
    assert credential_tls({"tls_client_certificate_bound_access_tokens": True}) == {
        "tls_client_certificate_bound_access_tokens": True}
    with pytest.raises(ApiError, match="needs tls_client_auth_subject_dn"):
        credential_tls({"token_endpoint_auth_method": "tls_client_auth"})
    with pytest.raises(ApiError, match="goes with"):
        credential_tls({"tls_client_auth_subject_dn": "CN=a"})
    body, method = credential_fields({"name": "x", "token_endpoint_auth_method": "tls_client_auth"}, "1d")
    assert method == "tls_client_auth"


def test_self_signed_tls_client_auth_keeps_its_certificates_in_jwks():
    """RFC 8705 §2.2: the client's self-signed certificates are the x5c of its keys; no secret."""
    cert = self_signed("app")
    jwks = {"keys": [cert.jwk("a"), self_signed("b").jwk("b", x5c=False)]}
    meta = parse({"redirect_uris": [URI], "token_endpoint_auth_method": "self_signed_tls_client_auth",
                  "jwks": jwks, "tls_client_certificate_bound_access_tokens": True}, dynamic=True)
    assert not meta.public and meta.auth_method == "self_signed_tls_client_auth"
    assert meta.registered() == {"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": jwks,
                                 "tls_client_certificate_bound_access_tokens": True}
    assert "self_signed_tls_client_auth" in metadata.KEYLESS_METHODS


@pytest.mark.parametrize(("body", "named"), [
    ({"token_endpoint_auth_method": "self_signed_tls_client_auth"}, "jwks"),  # no jwks
    ({"token_endpoint_auth_method": "self_signed_tls_client_auth",
      "jwks": {"keys": [self_signed("a").jwk(x5c=False)]}}, "x5c"),  # no certificate
    ({"token_endpoint_auth_method": "self_signed_tls_client_auth",
      "jwks": {"keys": [{**self_signed("a").jwk(), "x5c": [self_signed("b").der_b64]}]}}, "not the key"),
    ({"token_endpoint_auth_method": "self_signed_tls_client_auth",
      "jwks": {"keys": [{**self_signed("a").jwk(), "x5c": ["bm90IGRlcg=="]}]}}, "x5c"),  # malformed
    ({"token_endpoint_auth_method": "self_signed_tls_client_auth",
      "jwks": {"keys": [{**self_signed("a").jwk(), "x5c": "MIIB"}]}}, "x5c"),
    ({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": {"keys": [self_signed("a").jwk()]},
      "tls_client_auth_subject_dn": "CN=a"}, "tls_client_auth_subject_dn"),  # the DN is tls_client_auth's
    ({"token_endpoint_auth_method": "client_secret_basic", "jwks": {"keys": [self_signed("a").jwk()]}}, "jwks"),
    ({"token_endpoint_auth_method": "private_key_jwt",  # an x5c is checked whatever the method
      "jwks": {"keys": [{**self_signed("a").jwk(), "x5c": [self_signed("b").der_b64]}]}}, "not the key"),
])
def test_self_signed_refusals(body, named):
    assert named in _refused({"redirect_uris": [URI], **body})


def test_jwks_uri_with_an_allowed_host():
    from tests.assertion_keys import KeyPair
    hosts = ("keys.example",)
    meta = parse({"redirect_uris": [URI], "token_endpoint_auth_method": "private_key_jwt",
                  "jwks_uri": "https://keys.example/jwks"}, dynamic=True, jwks_uri_hosts=hosts)
    assert meta.info == {"jwks_uri": "https://keys.example/jwks"} and meta.auth_method == "private_key_jwt"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"jwks_uri": "https://keys.example/jwks"}, "private_key_jwt goes with jwks or jwks_uri"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://keys.example/j",
          "jwks": KeyPair().jwks}, "not both"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.example/j"}, "https"),
        ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://other.example/j"}, "not allowed"),
    ]
    for body, says in cases:
        with pytest.raises(ApiError, match=says):
            parse({"redirect_uris": [URI], **body}, dynamic=True, jwks_uri_hosts=hosts)
