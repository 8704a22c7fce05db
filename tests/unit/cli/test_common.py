"""Operator errors at the CLI (issue 9 item 18): invalid settings or a database that cannot be opened
print one line naming the setting or the target and exit 2, for every command; never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyturn.cli import app

OK = {"KEYTURN_ENVIRONMENT": "production", "KEYTURN_ISSUER": "https://auth.example.test",
      "KEYTURN_SETTINGS_FILE": "", "KEYTURN_LOG_LEVEL": "INFO"}
COMMANDS = [
    ["migrate"],
    ["users", "create", "--email", "ana@example.test", "--password", "a long enough password"],
    ["tokens", "issue", "--user", "ana@example.test"],
    ["credentials", "create", "--user", "ana@example.test", "--name", "my.app.cu"],
    ["keys", "list"],
    ["accounts", "create", "--name", "Shop", "--owner", "ana@example.test"],
]
KEYTURN = Path(sys.executable).with_name("keyturn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_error_line(stderr: str, stdout: str = "") -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr + stdout
    return lines[0]


def _invoke(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={**OK, **env})
    return result.exit_code, result.stderr, result.stdout


@pytest.mark.parametrize("args", COMMANDS + [["serve"]], ids=lambda a: "-".join(a[:2]))
@pytest.mark.parametrize(("env", "names"), [
    ({"KEYTURN_ENVIRONMENT": ""}, ("KEYTURN_ENVIRONMENT", "'production' or 'development'", "(got '')")),
    ({"KEYTURN_ISSUER": "ftp://auth.example.test"}, ("KEYTURN_ISSUER", "http(s)", "ftp://auth.example.test")),
    ({"KEYTURN_ISSUER": "http://auth.example.test"}, ("KEYTURN_ISSUER", "https", "KEYTURN_ENVIRONMENT=development")),
    ({"KEYTURN_LOG_LEVEL": "loud"}, ("KEYTURN_LOG_LEVEL", "INFO", "LOUD")),
    ({"KEYTURN_DATABASE_POOL_SIZE": "many"}, ("KEYTURN_DATABASE_POOL_SIZE", "integer")),
], ids=["environment", "issuer-scheme", "issuer-http", "log-level", "pool-size"])
def test_invalid_settings_are_one_line_naming_the_variable_and_exit_2(args, env, names):
    code, stderr, stdout = _invoke(args, env)
    assert code == 2, (stderr, stdout)
    line = _one_error_line(stderr, stdout)
    for name in names:
        assert name in line, (name, line)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_postgresql_on_a_closed_port_is_one_line_naming_host_and_port_and_exit_2(args):
    port = _free_port()
    url = f"postgresql+asyncpg://keyturn:s3cret-pw@127.0.0.1:{port}/keyturn"
    code, stderr, stdout = _invoke(args, {"KEYTURN_DATABASE_URL": url, "KEYTURN_DATABASE_TIMEOUT": "3"})
    assert code == 2
    line = _one_error_line(stderr, stdout)
    assert f"127.0.0.1:{port}" in line and "KEYTURN_DATABASE_URL" in line and "refused" in line
    assert "s3cret-pw" not in stderr + stdout


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_sqlite_in_a_missing_directory_is_one_line_naming_the_file_and_exit_2(args, tmp_path):
    path = tmp_path / "no" / "such" / "dir" / "keyturn.db"
    code, stderr, stdout = _invoke(args, {"KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{path}"})
    assert code == 2
    line = _one_error_line(stderr, stdout)
    assert str(path) in line and "KEYTURN_DATABASE_URL" in line and "directory" in line
    assert not path.parent.exists()


@pytest.mark.parametrize("url", ["not a url", "mysql://root@db/keyturn", "postgresql://u:s3cret-pw@h/db"])
def test_an_unusable_database_url_is_one_line_and_exit_2(url):
    code, stderr, stdout = _invoke(["migrate"], {"KEYTURN_DATABASE_URL": url})
    assert code == 2
    line = _one_error_line(stderr, stdout)
    assert "KEYTURN_DATABASE_URL" in line and "s3cret-pw" not in line


def test_postgresql_unknown_database_and_role_are_one_line_with_a_hint():
    from tests.conftest import require_service
    require_service("PostgreSQL", "127.0.0.1", 5432)
    for url, words in (("postgresql+asyncpg://postgres@127.0.0.1:5432/no_such_db_kt", ("does not exist", "create")),
                       ("postgresql+asyncpg://no_such_role_kt:pw@127.0.0.1:5432/test", ("no_such_role_kt", "user"))):
        code, stderr, stdout = _invoke(["migrate"], {"KEYTURN_DATABASE_URL": url})
        assert code == 2
        line = _one_error_line(stderr, stdout)
        assert "127.0.0.1:5432" in line and all(w in line for w in words), line
        assert ":pw@" not in line


def test_a_missing_settings_file_is_one_line_and_exit_2(tmp_path):
    code, stderr, stdout = _invoke(["migrate"], {"KEYTURN_SETTINGS_FILE": str(tmp_path / "missing.toml")})
    assert code == 2
    assert "KEYTURN_SETTINGS_FILE" in _one_error_line(stderr, stdout)


@pytest.mark.parametrize(("env", "needle"), [
    ({"KEYTURN_ENVIRONMENT": ""}, "KEYTURN_ENVIRONMENT"),
    ({"KEYTURN_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:{port}/test"}, "127.0.0.1:{port}"),
], ids=["settings", "database"])
def test_the_installed_keyturn_serve_prints_one_line_not_a_rich_traceback(env, needle, tmp_path):
    port = _free_port()
    env = {k: v.format(port=port) for k, v in env.items()}
    full = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    full.update({**OK, **env, "COLUMNS": "200"})
    proc = subprocess.run([str(KEYTURN), "serve", "--port", str(_free_port())], env=full, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert needle.format(port=port) in _one_error_line(proc.stderr, proc.stdout)


def test_a_working_command_still_works(tmp_path):
    code, stderr, stdout = _invoke(["keys", "list"], {"KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db"})
    assert code == 0, stderr
    assert "RS256" in stdout
