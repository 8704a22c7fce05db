"""A throwaway PostgreSQL cluster for fault tests: its own data directory under a temp dir, its own port.

Fault tests stop, freeze (SIGSTOP) and restart *this* cluster, never the machine's shared one on 5432.
``initdb`` refuses to run as root, so as root every PostgreSQL program runs as the ``postgres`` user.

    with throwaway_cluster() as pg:        # or the ``pg_cluster`` fixture
        url = pg.url                       # postgresql+asyncpg://postgres@127.0.0.1:<port>/keyturn
        pg.freeze(); ...; pg.thaw()        # every process of the cluster stopped / continued
        pg.stop(); ...; pg.start()         # a real shutdown and start (same port, same data)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin",
            "/usr/local/bin", "/usr/bin")


def _program(name: str) -> str | None:
    for d in BIN_DIRS:
        p = Path(d) / name
        if p.exists():
            return str(p)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Cluster:
    """One PostgreSQL server process tree on 127.0.0.1:``port`` with data in ``datadir``."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.datadir = root / "data"
        self.sockets = root / "sockets"
        self.logfile = root / "postgres.log"
        self.port = port
        self.database = "keyturn"
        self._frozen = False

    @property
    def url(self) -> str:
        """The SQLAlchemy URL Keyturn takes (KEYTURN_DATABASE_URL)."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """The same database for asyncpg/psql."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(_as_postgres(list(argv)), capture_output=True, text=True, timeout=timeout,
                              check=True)

    def init(self) -> None:
        initdb = _program("initdb")
        assert initdb is not None
        self._run(initdb, "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.sockets}'\nfsync = off\nsynchronous_commit = off\n"
                       "full_page_writes = off\nshared_buffers = 16MB\nmax_connections = 60\n")

    def start(self, timeout: float = 30) -> None:
        pg_ctl = _program("pg_ctl")
        assert pg_ctl is not None
        self._run(pg_ctl, "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", str(int(timeout)),
                  "start", timeout=timeout + 10)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"throwaway PostgreSQL on {self.port} did not start: {self.log()[-2000:]}")

    def stop(self, mode: str = "fast") -> None:
        """Shut the server down (``fast``: disconnect clients; ``immediate``: like a crash)."""
        if self._frozen:
            self.thaw()
        pg_ctl = _program("pg_ctl")
        assert pg_ctl is not None
        subprocess.run(_as_postgres([pg_ctl, "-D", str(self.datadir), "-m", mode, "-w", "stop"]),
                       capture_output=True, text=True, timeout=60)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        pidfile = self.datadir / "postmaster.pid"
        try:
            main = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        found = [main]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == main:
                found.append(int(entry.name))
        return found

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: connections open, nothing answers."""
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)
        self._frozen = True

    def thaw(self) -> None:
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)
        self._frozen = False

    def sql(self, statement: str) -> str:
        """Run one statement with psql (as the superuser) and return its unaligned output."""
        psql = _program("psql")
        assert psql is not None
        res = subprocess.run([psql, "-X", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", self.database, "-c", statement], capture_output=True, text=True, timeout=30,
                             check=True)
        return res.stdout.strip()

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""


def available() -> bool:
    return all(_program(p) for p in ("initdb", "pg_ctl", "psql"))


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A started cluster with an empty ``keyturn`` database; stopped and deleted afterwards."""
    if not available():
        if IN_CI:
            pytest.fail("initdb/pg_ctl/psql are required in CI for the fault tests but were not found")
        pytest.skip("initdb/pg_ctl/psql not found; skipping the fault test (required when CI=true)")
    root = Path(tempfile.mkdtemp(prefix="keyturn-pg-"))
    (root / "sockets").mkdir()
    if os.geteuid() == 0:
        for path in (root, root / "sockets"):
            shutil.chown(path, "postgres", "postgres")
    cluster = Cluster(root, _free_port())
    try:
        cluster.init()
        try:
            cluster.start()
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"throwaway PostgreSQL did not start: {exc.stderr} {cluster.log()[-2000:]}") from None
        psql = _program("psql")
        assert psql is not None
        subprocess.run([psql, "-X", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-d", "postgres",
                        "-c", f"CREATE DATABASE {cluster.database}"], capture_output=True, check=True, timeout=30)
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster of this test's own (see the module doc)."""
    with throwaway_cluster() as cluster:
        yield cluster
