"""``keyturn users create`` and ``keyturn tokens issue`` print wire shapes (keyturn.wire.users, .tokens): the
keys, order and values they have always printed; an ApiError is the API's error shape on stderr, exit 2."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from typer.testing import CliRunner

from keyturn.cli import app

PASSWORD = "correct horse battery"


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://localhost:8000",
           "KEYTURN_SETTINGS_FILE": "", "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_users_create_and_tokens_issue_print_their_shapes(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "users", "create", "--email", "ana@example.test", "--phone", "+6421234567890",
                          "--password", PASSWORD, "--json")
    assert code == 0, err
    user = json.loads(out)
    assert list(user) == ["id", "email", "phone_number", "preferred_username", "individualAccountId"]
    assert (user["email"], user["phone_number"], user["preferred_username"]) == (
        "ana@example.test", "+6421234567890", None)
    code, out, err = _run(tmp_path, "users", "create", "--email", "bob@example.test", "--password", PASSWORD)
    assert code == 0 and out.startswith("created user ") and len(out.split()) == 3, err

    code, out, err = _run(tmp_path, "tokens", "issue", "--user", "ana@example.test", "--scope", "a b",
                          "--lifetime", "600", "--json")
    assert code == 0, err
    token = json.loads(out)
    assert list(token) == ["access_token", "token_type", "expires_in", "scope"]
    assert (token["token_type"], token["expires_in"], token["scope"]) == ("Bearer", 600, "a b")
    payload = token["access_token"].split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"] == user["id"]
    code, out, err = _run(tmp_path, "tokens", "issue", "--user", user["id"])
    assert code == 0 and out.count(".") == 2 and not out.startswith("{"), err  # the token alone


def test_a_refused_use_case_is_the_apis_error_shape_on_stderr(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "tokens", "issue", "--user", "nobody@example.test")
    assert (code, out) == (2, "")
    assert err.strip().splitlines()[-1] == ('{"status": "ERROR", "error": "NOT_FOUND", '
                                            '"message": "no user nobody@example.test"}')
