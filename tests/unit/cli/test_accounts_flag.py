"""``keyturn accounts flags|subscriptions``: the operator adds and removes what policy requirements check;
``keyturn serve`` refuses a version 2 policy file with a bad requirement before serving."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from keyturn.cli import app
from tests.server import KEYTURN

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "policies" / "centrapay-2026.yaml"


def _run(tmp_path: Path, *args: str, policy: Path | None = None) -> tuple[int, str, str]:
    env = {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://localhost:8000",
           "KEYTURN_SETTINGS_FILE": "", "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db",
           "KEYTURN_POLICY_FILE": str(policy or EXAMPLE)}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_flags_and_subscriptions_are_added_and_removed(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "accounts", "create", "--name", "Shop", "--subscription", "collection-manager",
                          "--json")
    assert code == 0, err
    account = json.loads(out)
    code, out, err = _run(tmp_path, "accounts", "flags", "--account", account["id"], "--add", "trusted-user",
                          "--add", "trusted-user", "--json")
    assert code == 0, err
    code, out, err = _run(tmp_path, "accounts", "subscriptions", "--account", account["id"], "--add",
                          "external-asset-issuer", "--json")
    assert code == 0, err
    flagged = json.loads(out)
    assert (flagged["flags"], flagged["subscriptions"]) == (
        ["trusted-user"], ["collection-manager", "external-asset-issuer"])
    assert flagged["modifiedBy"] == "operator"
    code, out, err = _run(tmp_path, "accounts", "flags", "--account", account["id"], "--remove", "trusted-user")
    assert code == 0, err
    assert out.strip() == f"account {account['id']} flags: (none)"
    code, out, err = _run(tmp_path, "accounts", "subscriptions", "--account", account["id"], "--remove",
                          "collection-manager")
    assert code == 0, err
    assert out.strip() == f"account {account['id']} subscriptions: external-asset-issuer"


def test_a_bad_flag_or_account_is_the_apis_error_shape(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "accounts", "flags", "--account", "nope", "--add", "x")
    assert (code, out) == (2, "") and '"error": "NOT_FOUND"' in err
    code, out, _ = _run(tmp_path, "accounts", "create", "--name", "Shop", "--json")
    account = json.loads(out)["id"]
    for bad in (" trusted", "", "x" * 101, "tab\there"):
        code, out, err = _run(tmp_path, "accounts", "flags", "--account", account, "--add", bad)
        assert (code, out) == (2, "") and '"error": "INVALID_REQUEST"' in err, bad
    code, _, err = _run(tmp_path, "accounts", "create", "--name", "Shop", "--subscription", "a b ")
    assert code == 2 and "a subscription is 1-100 letters, digits or . _ : -" in err


def test_serve_refuses_an_unknown_requirement(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(EXAMPLE.read_text().replace("{any_of: [org-account]}  # 🗄\n  merchants:list",
                                               "{any_of: [org-acount]}  # 🗄\n  merchants:list"))
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "org-acount" in text)
    # The real command in its own process: serve configures logging for the whole process.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")} | {
        "KEYTURN_ENVIRONMENT": "development", "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db",
        "KEYTURN_POLICY_FILE": str(bad)}
    done = subprocess.run([KEYTURN, "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60)
    code, err = done.returncode, done.stderr.strip().splitlines()[-1]
    assert code == 2
    assert err == (f"error: invalid policy {bad} line {line}: permissions.merchants:create.any_of[0]: "
                           "unknown requirement 'org-acount' (declare it under requirements)")
