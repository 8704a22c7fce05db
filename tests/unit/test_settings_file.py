"""settings.py: KEYTURN_SETTINGS_FILE as TOML or dotenv, and the phone region setting."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from keyturn.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KEYTURN_"):
            monkeypatch.delenv(name)


def test_a_misspelt_setting_in_a_toml_file_is_refused(monkeypatch, tmp_path):
    """A typo must not silently leave a default (a secret, a TTL) in place."""
    f = tmp_path / "keyturn.toml"
    f.write_text('issuer = "https://auth.example"\naccess_token_tll = 60\n')
    monkeypatch.setenv("KEYTURN_SETTINGS_FILE", str(f))
    with pytest.raises(ValueError, match="unknown settings access_token_tll"):
        load_settings()


def test_a_dotenv_file_of_keyturn_variables(monkeypatch, tmp_path):
    f = tmp_path / "keyturn.env"
    f.write_text("KEYTURN_ISSUER=https://auth.example\nKEYTURN_ACCESS_TOKEN_TTL=600\n")
    monkeypatch.setenv("KEYTURN_SETTINGS_FILE", str(f))
    monkeypatch.setenv("KEYTURN_ACCESS_TOKEN_TTL", "900")  # the environment wins over the file
    s = load_settings()
    assert (s.issuer, s.access_token_ttl, s.environment) == ("https://auth.example", 900, "production")


def test_overrides_win_over_everything(monkeypatch):
    monkeypatch.setenv("KEYTURN_ISSUER", "https://env.example")
    assert load_settings(issuer="https://override.example").issuer == "https://override.example"


def test_development_is_announced(caplog):
    with caplog.at_level("WARNING", logger="keyturn.settings"):
        load_settings(environment="development")
    assert "never use this in production" in caplog.text


@pytest.mark.parametrize(("value", "region"), [(" gb ", "GB"), ("NZ", "NZ"), ("", None), ("  ", None), (None, None)])
def test_the_phone_region_is_an_iso_region_or_unset(value, region):
    assert Settings(environment="development", default_phone_region=value).default_phone_region == region


@pytest.mark.parametrize("value", ["UK", "G", "XX", 44])
def test_a_region_that_is_not_one_is_refused(value):
    with pytest.raises(ValidationError, match="ISO 3166"):
        Settings(environment="development", default_phone_region=value)


def test_derived_values():
    s = Settings(issuer="https://auth.example", database_url="postgresql+asyncpg://u@h/db")
    assert s.token_audience == "https://auth.example" and s.secure_cookies and not s.is_sqlite
    d = Settings(environment="development", audience="https://api.example")
    assert d.token_audience == "https://api.example" and not d.secure_cookies and d.is_sqlite
    with pytest.raises(ValidationError, match="absolute http"):
        Settings(issuer="auth.example")
