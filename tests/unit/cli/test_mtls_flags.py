"""``--tls-client-auth-subject-dn`` and ``--tls-client-certificate-bound-access-tokens`` on ``keyturn clients
create`` (RFC 8705): a confidential client without a secret, authenticating by its certificate's subject."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.cli.test_dpop_flags import _run


def test_a_tls_client_auth_client(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "clients", "create", "--name", "Bank app", "--confidential", "--redirect-uri",
                          "https://bank.example/cb", "--tls-client-auth-subject-dn", "CN=bank\\2dapp,O=Bank,C=NZ",
                          "--tls-client-certificate-bound-access-tokens")
    assert code == 0, err
    rp = json.loads(out)
    assert rp["type"] == "confidential" and rp["token_endpoint_auth_method"] == "tls_client_auth"
    assert "client_secret" not in rp  # it authenticates by its certificate only
    assert rp["tls_client_auth_subject_dn"] == "CN=bank-app,O=Bank,C=NZ"
    assert rp["tls_client_certificate_bound_access_tokens"] is True


def test_a_public_client_binds_but_has_no_subject(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "clients", "create", "--name", "SPA", "--public", "--redirect-uri",
                          "https://spa.example/cb", "--tls-client-certificate-bound-access-tokens")
    assert code == 0, err
    assert json.loads(out)["tls_client_certificate_bound_access_tokens"] is True
    code, out, err = _run(tmp_path, "clients", "create", "--name", "SPA", "--public", "--redirect-uri",
                          "https://spa.example/cb", "--tls-client-auth-subject-dn", "CN=x")
    assert code != 0 and "subject DN" in out + err
    code, out, err = _run(tmp_path, "clients", "create", "--name", "App", "--confidential", "--redirect-uri",
                          "https://spa.example/cb", "--tls-client-auth-subject-dn", "cn=lower")
    assert code != 0 and "RFC 4514" in out + err
