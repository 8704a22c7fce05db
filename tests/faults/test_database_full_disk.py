"""Issue 12 item 7 and F06 (a): the database volume is full. A real ``keyturn serve`` on a SQLite file in a
4 MiB tmpfs of its own (a private mount namespace: ``unshare -m``, so nothing of the machine is mounted over);
the test fills the volume through ``/proc/<pid>/root``: /readyz answers 503 ``writable``, the token endpoint
issues no token (503, never a 200), /jwks keeps answering; once space is freed both recover within ~1 s.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.server import KEYTURN, free_port

pytestmark = [pytest.mark.faults, pytest.mark.server, pytest.mark.timing]
IN_CI = os.environ.get("CI", "").lower() == "true"


def _cli(env: dict[str, str], *args: str) -> dict[str, object]:
    res = subprocess.run([KEYTURN, *args, "--json"], env=env, capture_output=True, text=True, timeout=60, check=True)
    data = json.loads(res.stdout)
    assert isinstance(data, dict)
    return data


def _can_mount(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    if shutil.which("unshare") is None:
        return False
    res = subprocess.run(["unshare", "-m", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                         capture_output=True, timeout=10)
    return res.returncode == 0


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until its volume has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _until(client: httpx.Client, path: str, status: int, limit: float = 10.0) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    while True:
        r = client.get(path)
        if r.status_code == status or time.monotonic() - started > limit:
            return time.monotonic() - started, r
        time.sleep(0.05)


def test_a_full_database_volume_is_not_ready_and_issues_no_token(tmp_path: Path) -> None:
    if not _can_mount(tmp_path):
        if IN_CI:
            pytest.fail("the full-disk test needs `unshare -m` and tmpfs mounts (CAP_SYS_ADMIN) in CI")
        pytest.skip("cannot mount a private tmpfs here (unshare -m / CAP_SYS_ADMIN); skipping the full-disk test")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    volume = tmp_path / "volume"
    volume.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    env.update({"KEYTURN_ENVIRONMENT": "development", "KEYTURN_ISSUER": url, "KEYTURN_LOG_LEVEL": "INFO",
                "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/seed.db"})
    owner = _cli(env, "users", "create", "--email", "disk@example.test", "--password", "correct horse battery")
    cred = _cli(env, "credentials", "create", "--user", str(owner["id"]), "--name", "d", "--scope", "a")["data"]
    assert isinstance(cred, dict)
    auth = (cred["username"], cred["password"])
    env["KEYTURN_DATABASE_URL"] = f"sqlite+aiosqlite:///{volume}/keyturn.db"
    script = (f"mount -t tmpfs -o size=4m tmpfs {volume} && cp {tmp_path}/seed.db {volume}/keyturn.db "
              f"&& exec {KEYTURN} serve --host 127.0.0.1 --port {port}")
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script], env=env, cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT)
    filler = Path(f"/proc/{proc.pid}/root{volume}/filler")  # the volume as the server's namespace sees it
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            assert client.get("/readyz").status_code == 200
            assert client.post("/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200

            _fill(filler)
            waited, r = _until(client, "/readyz", 503)
            assert r.status_code == 503 and r.json()["failing"] == "writable", r.text
            answers = [client.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
                       for _ in range(5)]
            assert {a.status_code for a in answers} == {503}, [a.text for a in answers]  # never a token
            assert answers[0].json()["error"] == "temporarily_unavailable"
            assert client.get("/.well-known/jwks.json").status_code == 200

            filler.unlink()
            recovered, r = _until(client, "/readyz", 200)
            assert r.status_code == 200, r.text
            assert client.post("/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200
            print(f"\nfull disk: /readyz 503 writable after {waited:.2f} s; 200 again {recovered:.2f} s after "
                  "the space was freed")
            assert recovered < 1.5
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert "Traceback" not in log_path.read_text(errors="replace")
