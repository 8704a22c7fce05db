"""Settings: one typed object from KEYTURN_* and an optional file; docs/settings.md lists every field."""

from __future__ import annotations

import importlib.util
from importlib.abc import Loader
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import cast

import pytest
from pydantic import ValidationError

from keyturn.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_docs_settings_md_is_generated_from_the_model():
    found = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts" / "settings_doc.py")
    spec = cast(ModuleSpec, found)
    mod = importlib.util.module_from_spec(spec)
    cast(Loader, spec.loader).exec_module(mod)
    doc = (ROOT / "docs" / "settings.md").read_text()
    assert doc == mod.render(), "run: python scripts/settings_doc.py > docs/settings.md"
    for name in Settings.model_fields:
        assert f"KEYTURN_{name.upper()}" in doc


def test_environment_and_toml_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KEYTURN_ENVIRONMENT", "development")
    monkeypatch.setenv("KEYTURN_ALLOWED_SCOPES", "A B")
    f = tmp_path / "keyturn.toml"
    f.write_text('[keyturn]\naccess_token_ttl = 600\naccess_token_alg = "EdDSA"\nlog_level = "debug"\n')
    monkeypatch.setenv("KEYTURN_SETTINGS_FILE", str(f))
    monkeypatch.setenv("KEYTURN_ACCESS_TOKEN_ALG", "RS256")  # the environment wins over the file
    s = load_settings()
    assert s.allowed_scopes == ("A", "B") and s.access_token_ttl == 600 and s.access_token_alg == "RS256"
    assert s.log_level == "DEBUG" and s.database_url.startswith("sqlite+aiosqlite:///./")


def test_invalid_values_are_refused():
    for bad in ({"issuer": "http://x.test"}, {"access_token_alg": "HS256", "environment": "development"},
                {"log_level": "LOUD", "environment": "development"}, {"access_token_ttl": 5}):
        with pytest.raises(ValidationError):
            Settings(**bad)
    assert Settings(issuer="https://auth.example/").issuer == "https://auth.example"


def test_jwks_uri_allowed_hosts_and_outbound_ca_file(monkeypatch, tmp_path):
    monkeypatch.setenv("KEYTURN_ENVIRONMENT", "development")
    monkeypatch.setenv("KEYTURN_SETTINGS_FILE", "")
    monkeypatch.setenv("KEYTURN_JWKS_URI_ALLOWED_HOSTS", "Keys.Example, b.example:443 [::1]:8443 10.0.0.5:9000")
    assert load_settings().jwks_uri_allowed_hosts == ("keys.example", "b.example", "[::1]:8443", "10.0.0.5:9000")
    monkeypatch.delenv("KEYTURN_JWKS_URI_ALLOWED_HOSTS")
    assert Settings().jwks_uri_allowed_hosts == () and Settings().outbound_ca_file is None
    for bad in ("a.example/path", "a.example:0", "user@a.example", "a.example:99999", ":443", "a.example?x"):
        with pytest.raises(ValidationError, match="host or host:port"):
            Settings(jwks_uri_allowed_hosts=bad)
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert Settings(outbound_ca_file=str(ca)).outbound_ca_file == str(ca)
    with pytest.raises(ValidationError, match="not a readable file"):
        Settings(outbound_ca_file=str(tmp_path / "missing.pem"))
