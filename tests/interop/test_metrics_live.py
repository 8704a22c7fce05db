"""`/metrics` of a real `keyturn serve`: with `--workers 2` one scrape sums both workers (prometheus-client's
multiprocess mode in a fresh directory the CLI makes and removes); a stale PROMETHEUS_MULTIPROC_DIR breaks nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.server import KEYTURN, start_server


def _token_200s(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "keyturn_http_requests_total" and s.labels == {"route": "/token", "method": "POST",
                                                                         "status": "200"}:
                return s.value
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw if b"=" in item)


def test_one_scrape_sums_both_workers(tmp_path: Path) -> None:
    server = start_server(f"sqlite+aiosqlite:///{tmp_path}/m.db", tmp_path, workers=2,
                          env_extra={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "not-there")})
    try:
        owner = server.cli("users", "create", "--email", "m@example.test", "--password", "correct horse battery")
        cred = server.cli("credentials", "create", "--user", owner["id"], "--name", "m", "--scope", "a")["data"]
        auth = (cred["username"], cred["password"])
        workers = [p for p in _children(server.proc.pid)
                   if "resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        assert len(workers) == 2, workers
        directories = {_environ(p).get("PROMETHEUS_MULTIPROC_DIR") for p in workers}
        assert len(directories) == 1
        directory = directories.pop()
        assert directory is not None and directory != str(tmp_path / "not-there") and Path(directory).is_dir()

        clients = [httpx.Client(base_url=server.url) for _ in range(8)]
        try:
            for c in clients:
                for _ in range(5):
                    assert c.post("/token", data={"grant_type": "client_credentials"}, auth=auth).status_code == 200
        finally:
            for c in clients:
                c.close()
        # both workers wrote counter files; every scrape (new connections, so either worker answers) sums them
        assert len({f.name.rsplit("_", 1)[1] for f in Path(directory).glob("counter_*.db")}) == 2
        for _ in range(6):
            with httpx.Client(base_url=server.url) as scraper:
                assert _token_200s(scraper.get("/metrics").text) == 40
    finally:
        server.stop()
    assert not Path(directory).exists(), "the metrics directory outlived the server"
    assert "PROMETHEUS_MULTIPROC_DIR=" in server.log() and "is not a directory; ignored" in server.log()


def test_a_stale_multiprocess_directory_does_not_break_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "gone"),
           "KEYTURN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db", "KEYTURN_ENVIRONMENT": "development"}
    done = subprocess.run([KEYTURN, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "database is up to date" in done.stdout


def test_one_worker_keeps_its_metrics_in_memory(tmp_path: Path) -> None:
    server = start_server(f"sqlite+aiosqlite:///{tmp_path}/one.db", tmp_path, workers=1)
    try:
        with httpx.Client(base_url=server.url) as c:
            c.get("/health")
            text = c.get("/metrics").text
        assert "keyturn_http_requests_total" in text and 'route="/health"' in text
        assert "process_cpu_seconds_total" in text  # the default registry's process collector: not multiprocess
    finally:
        server.stop()
