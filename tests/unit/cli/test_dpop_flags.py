"""``--dpop-bound-access-tokens`` on ``keyturn clients create`` and ``keyturn credentials create``: the client
is stored as requiring DPoP (RFC 9449 §5.2)."""

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


def _stored(tmp_path: Path, client_id: str) -> int:
    import sqlite3
    with sqlite3.connect(tmp_path / "k.db") as db:
        return int(db.execute("SELECT dpop_bound_access_tokens FROM clients WHERE client_id = ?",
                              (client_id,)).fetchone()[0])


def test_clients_and_credentials_created_dpop_bound(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "clients", "create", "--name", "SPA", "--public", "--redirect-uri",
                          "https://spa.example/cb", "--dpop-bound-access-tokens")
    assert code == 0, err
    rp = json.loads(out)
    assert rp["dpop_bound_access_tokens"] is True and _stored(tmp_path, rp["client_id"]) == 1
    code, out, err = _run(tmp_path, "clients", "create", "--name", "Other", "--public", "--redirect-uri",
                          "https://spa.example/cb")
    assert json.loads(out)["dpop_bound_access_tokens"] is False
    code, _, err = _run(tmp_path, "users", "create", "--email", "ana@example.test", "--password", "correct horse b")
    assert code == 0, err
    code, out, err = _run(tmp_path, "credentials", "create", "--user", "ana@example.test", "--name", "api",
                          "--dpop-bound-access-tokens", "--json")
    assert code == 0, err
    assert _stored(tmp_path, json.loads(out)["data"]["username"]) == 1
