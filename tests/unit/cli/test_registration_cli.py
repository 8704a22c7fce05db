"""``keyturn registration initial-token issue | list | revoke``: the operator's initial access tokens."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from keyturn.cli import app


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://localhost:8000",
           "KEYTURN_SETTINGS_FILE": "", "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_issue_list_revoke(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "registration", "initial-token", "issue", "--expires", "1d", "--uses", "3")
    assert code == 0, err
    issued = json.loads(out)
    assert issued["token"].startswith("ktia_") and issued["uses_left"] == 3 and issued["expires_at"]
    code, out, err = _run(tmp_path, "registration", "initial-token", "issue", "--text")
    assert code == 0 and out.strip().startswith("ktia_")
    code, out, err = _run(tmp_path, "registration", "initial-token", "list")
    listed = json.loads(out)
    assert code == 0 and len(listed) == 2 and all("token" not in t for t in listed)
    assert issued["token"] not in out
    code, _, err = _run(tmp_path, "registration", "initial-token", "revoke", issued["id"])
    assert code == 0, err
    code, out, _ = _run(tmp_path, "registration", "initial-token", "list", "--text")
    assert code == 0 and "revoked_at=None" in out and f"{issued['id']} uses_left=3" in out
    code, _, err = _run(tmp_path, "registration", "initial-token", "revoke", issued["id"])
    assert code != 0 and "not found" in err
    code, _, err = _run(tmp_path, "registration", "initial-token", "issue", "--expires", "forever")
    assert code != 0 and "--expires" in err
