"""Keyturn under test: find the CLI, give each database a fresh store, provision through the CLI.

Provisioning uses Keyturn's own commands (`keyturn users|credentials|accounts|api-keys create`),
the same path an operator uses. A step that fails is recorded with its command, exit status and
output, and only the scenarios that need it are skipped.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d", "test"]
BENCH_EMAIL = "bench-owner@example.com"
SCOPE = "payments:read payments:write"
BENCH_PASSWORD = "bench-Passw0rd-not-secret"
RP_REDIRECT_URI = "http://127.0.0.1:9/cb"  # never fetched: the code is read from the Location header
ES256 = "ES256"  # OIDC Dynamic Client Registration 1.0 §2: id_token_signed_response_alg
EDDSA = "EdDSA"  # the same, Ed25519 (RFC 8037)


def keyturn_command(override: str | None) -> list[str]:
    """`--keyturn CMD` if given, else the `keyturn` beside this interpreter, the repo venv's, or PATH's."""
    if override:
        return shlex.split(override)
    for candidate in (Path(sys.executable).with_name("keyturn"), REPO / ".venv" / "bin" / "keyturn"):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("keyturn")
    return [found] if found else [sys.executable, "-m", "keyturn"]


def keyturn_python(cmd: list[str]) -> str:
    """The interpreter that runs Keyturn (from the console script's shebang), for the report."""
    try:
        first = Path(cmd[0]).read_text(errors="replace").splitlines()[0]
        if first.startswith("#!") and "python" in first:
            return first[2:].strip().split()[0]
    except (OSError, IndexError):
        pass
    return sys.executable


def keyturn_env(database_url: str, port: int) -> dict[str, str]:
    """Production-like settings: info logging with access logs, no debug, no reload.

    `development` is only what lets the issuer be plain http on loopback.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    env.update(
        {
            "KEYTURN_DATABASE_URL": database_url,
            "KEYTURN_ISSUER": f"http://127.0.0.1:{port}",
            "KEYTURN_LOG_LEVEL": "info",
            "KEYTURN_ENVIRONMENT": "development",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _redact(argv: list[str]) -> str:
    out, hide = [], False
    for arg in argv:
        out.append("***" if hide else arg)
        hide = arg in ("--password", "--secret")
    return shlex.join(out)


class StepFailed(RuntimeError):
    """A provisioning command failed; str() says the command, exit status and output."""


def run_step(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    try:
        done = subprocess.run(
            argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StepFailed(f"`{_redact(argv)}` could not run: {exc}") from exc
    if done.returncode != 0:
        raise StepFailed(
            f"`{_redact(argv)}` exited {done.returncode}: "
            f"stdout={done.stdout.strip()[-600:]!r} stderr={done.stderr.strip()[-900:]!r}"
        )
    return done.stdout


def parse_json(argv: list[str], out: str) -> dict[str, Any]:
    """The command's JSON object (the whole output, else its last line that parses)."""
    candidates = [out] + [line for line in reversed(out.splitlines()) if line.lstrip().startswith("{")]
    for text in candidates:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise StepFailed(f"`{_redact(argv)}` printed no JSON object: {out.strip()[-600:]!r}")


def reset_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{path}"


def reset_postgres(database: str) -> str:
    """Drop and recreate the dedicated benchmark database (never the shared `test` one)."""
    if not database.replace("_", "").isalnum() or database in ("test", "postgres"):
        raise ValueError(f"refusing to recreate database {database!r}")
    for sql in (f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'CREATE DATABASE "{database}"'):
        run_step(["psql", *PG_ADMIN, "-v", "ON_ERROR_STOP=1", "-qc", sql], dict(os.environ), REPO)
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"


@dataclass
class Provisioned:
    client_id: str = ""
    client_secret: str = ""
    api_key: str = ""
    refresh_client_id: str = ""
    refresh_client_secret: str = ""
    rp_client_id: str = ""
    rp_client_secret: str = ""
    rp_es256_client_id: str = ""
    rp_es256_client_secret: str = ""
    rp_eddsa_client_id: str = ""
    rp_eddsa_client_secret: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # what -> StepFailed text


def provision(kt: list[str], env: dict[str, str], cwd: Path) -> Provisioned:
    """Migrate, then create the owner, the client-credentials credential and the API key.

    Raises StepFailed if migration, the user or the credential fails (nothing can run then);
    the API key, the refresh credential and the scenario 6a clients only fill `errors`.
    """
    got = Provisioned()

    def step(*args: str) -> dict[str, Any]:
        argv = [*kt, *args, "--json"]
        return parse_json(argv, run_step(argv, env, cwd))

    def credential(name: str, refresh: str) -> tuple[str, str]:
        cred = step("credentials", "create", "--user", BENCH_EMAIL, "--name", name, "--scope", SCOPE,
                    "--refresh", refresh)  # fmt: skip
        data = cred["data"] if isinstance(cred.get("data"), dict) else cred  # seed 000's {"status", "data"}
        return str(data["username"]), str(data["password"])

    run_step([*kt, "migrate"], env, cwd)
    step("users", "create", "--email", BENCH_EMAIL, "--password", BENCH_PASSWORD)
    got.client_id, got.client_secret = credential("bench-cc", "none")
    try:
        account = step("accounts", "create", "--name", "Bench Org", "--type", "org", "--owner", BENCH_EMAIL)
        key = step("api-keys", "create", "--account", str(account["id"]), "--name", "bench-key",
                   "--role", "merchant-terminal")  # fmt: skip
        got.api_key = str(key.get("key") or key["secret"])  # the brief says "key"; the CLI prints "secret"
    except (StepFailed, KeyError) as exc:
        got.errors["api_key"] = f"{type(exc).__name__}: {exc}"
    try:  # cc_refresh and scenario 6b: seed 000's credential, every grant carries a refresh token
        got.refresh_client_id, got.refresh_client_secret = credential("bench-refresh", "1d")
    except (StepFailed, KeyError) as exc:
        got.errors["refresh"] = f"{type(exc).__name__}: {exc}"

    def relying_party(name: str, id_token_alg: str | None = None) -> tuple[str, str]:
        """A first-party confidential OIDC client (so no consent page)."""
        extra = ["--id-token-alg", id_token_alg] if id_token_alg else []
        rp = step("clients", "create", "--name", name, "--confidential", "--first-party",
                  "--redirect-uri", RP_REDIRECT_URI, "--scope", "openid", *extra)  # fmt: skip
        registered = rp.get("id_token_signed_response_alg")
        if id_token_alg and registered != id_token_alg:
            raise StepFailed(f"asked for id_token_signed_response_alg {id_token_alg}, registered {registered!r}")
        return str(rp["client_id"]), str(rp["client_secret"])

    try:  # scenario 6a: ID tokens in the default RS256
        got.rp_client_id, got.rp_client_secret = relying_party("bench-rp")
    except (StepFailed, KeyError) as exc:
        got.errors["auth_code"] = f"{type(exc).__name__}: {exc}"
    try:  # scenario 6a, ES256: the client registers id_token_signed_response_alg ES256
        got.rp_es256_client_id, got.rp_es256_client_secret = relying_party("bench-rp-es256", ES256)
    except (StepFailed, KeyError) as exc:
        got.errors["auth_code_es256"] = f"{type(exc).__name__}: {exc}"
    try:  # scenario 6a, EdDSA: the client registers id_token_signed_response_alg EdDSA
        got.rp_eddsa_client_id, got.rp_eddsa_client_secret = relying_party("bench-rp-eddsa", EDDSA)
    except (StepFailed, KeyError) as exc:
        got.errors["auth_code_eddsa"] = f"{type(exc).__name__}: {exc}"
    return got
