"""``keyturn audit list | export``: the same filters and shapes as the management API, from the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyturn.cli import app
from keyturn.cli.audit import parse_time
from keyturn.cli.common import CliError

PASSWORD = "correct horse battery"


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": "http://localhost:8000",
           "KEYTURN_SETTINGS_FILE": "", "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/k.db"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_list_and_export_the_trail(tmp_path: Path) -> None:
    for name in ("ana", "bob", "cy"):
        code, _, err = _run(tmp_path, "users", "create", "--email", f"{name}@example.test", "--password", PASSWORD)
        assert code == 0, err
    code, out, err = _run(tmp_path, "audit", "list", "--kind", "user.created", "--json")
    assert code == 0, err
    page = json.loads(out)
    assert page["status"] == "OK" and page["next_cursor"] is None
    assert [e["kind"] for e in page["data"]] == ["user.created"] * 3
    subjects = [e["subject"] for e in page["data"]]

    code, out, err = _run(tmp_path, "audit", "list", "--kind", "user.*", "--limit", "2", "--order", "desc")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("more: --cursor ")
    assert f"subject={subjects[2]}" in lines[0] and " user.created actor=" in lines[0]
    code, out, err = _run(tmp_path, "audit", "list", "--kind", "user.*", "--limit", "2", "--order", "desc",
                          "--cursor", lines[-1].split()[-1])
    assert code == 0 and f"subject={subjects[0]}" in out and "more:" not in out, err

    code, out, err = _run(tmp_path, "audit", "list", "--subject", subjects[1], "--since", "1h", "--json")
    assert [e["subject"] for e in json.loads(out)["data"]] == [subjects[1]]
    code, out, _ = _run(tmp_path, "audit", "list", "--until", "2000-01-01T00:00:00Z")
    assert (code, out.strip()) == (0, "no events")

    code, out, err = _run(tmp_path, "audit", "export", "--kind", "user.created")
    assert code == 0, err
    exported = [json.loads(line) for line in out.splitlines()]
    assert exported == page["data"]
    assert "exported 3 events" in err
    code, out, _ = _run(tmp_path, "audit", "list", "--kind", "audit.exported", "--json")
    (record,) = json.loads(out)["data"]
    assert record["actor"] == "operator" and record["detail"] == {"filters": {"kinds": ["user.created"]}}


@pytest.mark.parametrize(("args", "message"), [
    (("--since", "last tuesday"), "neither an ISO 8601 time nor a duration"),
    (("--order", "up"), "--order must be asc or desc"),
    (("--since", "2027-01-02T00:00:00Z", "--until", "2027-01-01T00:00:00Z"), "until is before since"),
])
def test_bad_filters_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    for command in ("list", "export"):
        code, out, err = _run(tmp_path, "audit", command, *args)
        assert (code, out) == (2, "")
        assert err.strip() == f"error: {message}" if "ISO" not in message else message in err


def test_a_bad_cursor_is_the_apis_error_shape(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "audit", "list", "--cursor", "garbage")
    assert (code, out) == (2, "")
    assert json.loads(err.strip().splitlines()[-1])["error"] == "INVALID_CURSOR"


def test_parse_time() -> None:
    now = 1_800_000_000.0
    assert parse_time(None, now) is None
    assert parse_time("24h", now) == now - 86400
    assert parse_time("2027-01-15T08:00:00Z", now) == datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    assert parse_time("2027-01-15T08:00:00", now) == datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()  # UTC
    assert parse_time("2027-01-15T09:00:00+01:00", now) == datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    for bad in ("none", "soon", ""):
        with pytest.raises(CliError):
            parse_time(bad, now)
