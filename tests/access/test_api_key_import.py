"""Imported API keys (issue 13 item 1): keys another service issued, in their own format, brought over
unchanged (CLI and management API), stored as a digest, marked imported, usable like minted keys, never
echoed back, audited; and `serve --demo` imports seed 001's published test merchant key, so the seed's
curl line works verbatim. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.core.secrets import digest, imported_key_problem
from keyturn.services import api_keys as api_keys_service
from keyturn.services.demo import SEED_001_TEST_KEY, create_demo_data
from keyturn.storage.tables import api_keys, audit_events

SEED_KEY = "f32c5497297084e5354b47c40d5ccacb109ce483"  # seed 001, verbatim
OTHER = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-._~+/="


def test_the_imported_format_bounds() -> None:
    assert imported_key_problem(SEED_KEY) is None and SEED_001_TEST_KEY == SEED_KEY
    assert imported_key_problem("0123456789abcdef" * 2) is None  # 32 hex: 128 bits
    assert imported_key_problem("Ab3dEf7hIjKl9nOp.r5t~") is None  # 21 of every class: 128.3 bits
    assert imported_key_problem("Ab3dEf7hIjKl9nOpQr5tU1") is None  # 22 mixed-case letters and digits: 131 bits
    assert imported_key_problem(("Ab3dEf7hIjKl9nOpQr5t" * 13)[:256]) is None
    too_weak = ["Ab3dEf7hIjKl9nOpQr5t", "Ab3dEf7hIjKl9nOp.r5t", "0123456789abcdef0123456789abcde",
                "1234567890" * 3, "a" * 40, "abababababababababababab"]
    bad_shape = ["Ab3dEf7hIjKl9nOpQr5", ("Ab3dEf7hIjKl9nOpQr5t" * 13)[:257], SEED_KEY[:30] + " " + SEED_KEY[31:],
                 SEED_KEY + "!", SEED_KEY + "é", "kt_live_" + SEED_KEY, "ktcs_" + SEED_KEY, ""]
    for value in too_weak:
        assert "too weak" in (imported_key_problem(value) or ""), value
    for value in bad_shape:
        assert "characters" in (imported_key_problem(value) or ""), value


async def test_import_over_http_then_use_list_disable_delete(client, ctx, make_user, make_org, caplog):
    caplog.set_level(logging.DEBUG)
    owner = await make_user()
    org = await make_org(owner, test=True)
    url = f"/api/accounts/{org['id']}/api-keys"
    # before any key is imported, a key of that shape is refused with no lookup of it
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": SEED_KEY})).status_code == 401
    body = {"name": "terminal-7", "role": "merchant-terminal", "key": SEED_KEY}
    r = await client.post(f"{url}/import", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert SEED_KEY not in r.text and SEED_KEY[-8:] not in r.text and "secret" not in r.json()
    assert r.headers["cache-control"] == "no-store"
    created = r.json()
    assert (created["imported"], created["hint"], created["role"]) == (True, "…e483", "merchant-terminal")
    assert created["createdBy"] == f"user:{owner.id}"
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == created["id"]))).mappings().one()
        events = (await conn.execute(select(audit_events).where(audit_events.c.subject == created["id"])))
        events = events.mappings().all()
    assert row["digest"] == digest(SEED_KEY) and row["imported"] is True and SEED_KEY not in str(dict(row))
    assert [e["event"] for e in events] == ["api_key.imported"] and SEED_KEY not in str([dict(e) for e in events])

    r = await client.get("/api/account-memberships", headers={"X-Api-Key": SEED_KEY})
    assert r.status_code == 200 and r.json() == [{"accountId": org["id"], "accountName": "Acme Ltd",
                                                  "accountType": "org", "role": "merchant-terminal"}]
    # a native key keeps working beside it, and an unknown key of either shape is still 401
    native = (await client.post(url, json={"name": "n", "role": "merchant-terminal"}, headers=owner.headers))
    assert native.json()["imported"] is False
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": native.json()["secret"]})).is_success
    for noise in (SEED_KEY[:-1] + "4", OTHER, native.json()["secret"][:-1] + "x", "kt_test_" + SEED_KEY,
                  "ktrt_" + SEED_KEY, "x" * 300):
        assert (await client.get("/api/account-memberships", headers={"X-Api-Key": noise})).status_code == 401

    listed = (await client.get(url, headers=owner.headers)).json()
    assert {k["name"]: k["imported"] for k in listed} == {"terminal-7": True, "n": False}
    assert SEED_KEY not in json.dumps(listed)
    r = await client.put(f"{url}/terminal-7", json={"enabled": False}, headers=owner.headers)
    assert r.status_code == 200 and r.json()["imported"] is True
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": SEED_KEY})).status_code == 401
    await client.put(f"{url}/terminal-7", json={"enabled": True}, headers=owner.headers)
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": SEED_KEY})).status_code == 200
    assert (await client.delete(f"{url}/terminal-7", headers=owner.headers)).status_code == 204
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": SEED_KEY})).status_code == 401
    assert "api_key.imported" in caplog.text and SEED_KEY not in caplog.text


async def test_refused_imports_get_400_403_409_and_write_nothing(client, make_user, make_org, make_key):
    owner = await make_user()
    org = await make_org(owner)
    other = await make_org(owner, name="Other Ltd")
    url = f"/api/accounts/{org['id']}/api-keys"
    cases: list[dict[str, Any]] = [
        {"name": "k", "role": "merchant-terminal", "key": "short0123456789"},
        {"name": "k", "role": "merchant-terminal", "key": "a" * 40},
        {"name": "k", "role": "merchant-terminal", "key": SEED_KEY + " x"},
        {"name": "k", "role": "merchant-terminal", "key": "x" * 1001},
        {"name": "k", "role": "merchant-terminal", "key": 5},
        {"name": "k", "role": "merchant-terminal", "key": "kt_live_" + SEED_KEY},
        {"name": "k", "role": "merchant-terminal"},
        {"name": "k", "role": "merchant-terminal", "key": SEED_KEY, "imported": True},
        {"name": "", "role": "merchant-terminal", "key": SEED_KEY},
        {"name": "k", "role": "merchant-terminal", "key": SEED_KEY, "rateLimit": "often"},
    ]
    for body in cases:
        r = await client.post(f"{url}/import", json=body, headers=owner.headers)
        assert (r.status_code, r.json()["error"]) == (400, "INVALID_REQUEST"), (body, r.text)
        assert SEED_KEY not in r.text and ("key" not in body or str(body["key"])[:20] not in r.text)
    r = await client.post(f"{url}/import", json={"name": "k", "role": "root", "key": SEED_KEY}, headers=owner.headers)
    assert (r.status_code, r.json()["error"]) == (400, "INVALID_ROLE")
    terminal = await make_key(org["id"], "merchant-terminal")
    r = await client.post(f"{url}/import", json={"name": "k", "role": "account-owner", "key": SEED_KEY},
                          headers={"X-Api-Key": terminal})
    assert r.status_code == 403
    assert [k["name"] for k in (await client.get(url, headers=owner.headers)).json()] != ["k"]
    assert all(k["imported"] is False for k in (await client.get(url, headers=owner.headers)).json())

    ok = {"name": "k", "role": "merchant-terminal", "key": SEED_KEY, "rateLimit": "100/60"}
    r = await client.post(f"{url}/import", json=ok, headers=owner.headers)
    assert r.status_code == 201 and r.json()["rateLimit"] == "100/60"
    again = await client.post(f"{url}/import", json=ok | {"key": OTHER}, headers=owner.headers)
    assert (again.status_code, again.json()["error"]) == (409, "CONFLICT") and "named k" in again.json()["message"]
    elsewhere = await client.post(f"/api/accounts/{other['id']}/api-keys/import", json=ok, headers=owner.headers)
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (409, "CONFLICT")
    assert SEED_KEY not in elsewhere.text
    assert (await client.get(f"/api/accounts/{other['id']}/api-keys", headers=owner.headers)).json() == []
    missing = await client.post("/api/accounts/no-such-account/api-keys/import", json=ok, headers=owner.headers)
    assert missing.status_code == 404


async def test_serve_demo_imports_seed_001s_test_merchant_key(client, ctx):
    """The seed's line, `curl -X GET ".../api/account-memberships" -H "X-Api-Key: f32c…e483"`, after the demo."""
    data = await create_demo_data(ctx, "http://keyturn.test")
    merchant = data["test_merchant"]
    assert data["try"]["seed_001_test_key"] == (
        f'curl -X GET "http://keyturn.test/api/account-memberships" -H "X-Api-Key: {SEED_KEY}"')
    expected = [{"accountId": merchant["account_id"], "accountName": "Test Merchant", "accountType": "org",
                 "role": "merchant-terminal"}]
    r = await client.get("/api/account-memberships", headers={"X-Api-Key": SEED_KEY})
    assert r.status_code == 200 and r.json() == expected
    again = await create_demo_data(ctx, "http://keyturn.test")  # idempotent: the imported key stays
    assert again["test_merchant"]["seed_001_api_key"] == SEED_KEY
    assert (await client.get("/api/account-memberships", headers={"X-Api-Key": SEED_KEY})).json() == expected
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys.c.name).where(api_keys.c.imported.is_(True)))).all()
    assert [r[0] for r in rows] == ["seed-001-test-merchant"]


async def test_the_demo_leaves_the_seed_key_where_an_operator_imported_it(client, ctx, make_user, make_org):
    owner = await make_user()
    org = await make_org(owner)
    await api_keys_service.import_key(ctx, None, org["id"], "mine", "merchant-terminal", SEED_KEY)
    data = await create_demo_data(ctx, "http://keyturn.test")
    assert "seed_001_api_key" not in data["test_merchant"] and "seed_001_test_key" not in data["try"]
    r = await client.get("/api/account-memberships", headers={"X-Api-Key": SEED_KEY})
    assert r.status_code == 200 and r.json()[0]["accountId"] == org["id"]


def _cli(tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    env = {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://localhost:8000",
           "KEYTURN_SETTINGS_FILE": "", "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db"}
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_cli_imports_from_stdin_or_a_file_never_argv(tmp_path: Path) -> None:
    code, out, err = _cli(tmp_path, "accounts", "create", "--name", "Shop", "--json")
    assert code == 0, err
    account = json.loads(out)["id"]
    base = ("api-keys", "import", "--account", account, "--role", "merchant-terminal")
    code, out, err = _cli(tmp_path, *base, "--name", "from-stdin", "--json", stdin=SEED_KEY + "\n")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["imported"], shown["name"], shown["hint"]) == (True, "from-stdin", "…e483")
    assert SEED_KEY not in out + err and "secret" not in shown
    key_file = tmp_path / "key.txt"
    key_file.write_text(OTHER + "\n")
    code, out, err = _cli(tmp_path, *base, "--name", "from-file", "--file", str(key_file))
    assert (code, out.strip()) == (0, f"imported from-file (merchant-terminal) on {account}"), err
    # refused: a weak key (the API's error shape on stderr, exit 2), a key on the command line, no such file
    code, out, err = _cli(tmp_path, *base, "--name", "weak", stdin="a" * 40)
    assert code == 2 and json.loads(err.strip().splitlines()[-1])["error"] == "INVALID_REQUEST"
    code, out, err = _cli(tmp_path, *base, "--name", "argv", SEED_KEY)
    assert code == 2 and SEED_KEY not in out
    code, out, err = _cli(tmp_path, *base, "--name", "nofile", "--file", str(tmp_path / "absent"))
    assert code == 2 and "cannot read the key" in err
    code, out, err = _cli(tmp_path, "api-keys", "list", "--account", account, "--json")
    assert [(k["name"], k["imported"]) for k in json.loads(out)] == [("from-stdin", True), ("from-file", True)]
