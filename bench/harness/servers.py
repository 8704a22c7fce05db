"""Server processes on loopback: start (optionally pinned with taskset), wait until ready, stop.

Every server is started in its own session, so stopping it signals exactly that process
group (the server and the workers it forked) and nothing else on the machine.
"""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from .system import proc_tree, rss_kib

HOST = "127.0.0.1"
FORM = "application/x-www-form-urlencoded"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_call(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: str = "",
    timeout: float = 10.0,
) -> tuple[int, str]:
    """One request to 127.0.0.1:port; (status, body). Status 0 means no answer."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body.encode() if body else None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    except OSError as exc:
        return 0, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    cpus: str | None  # taskset CPU list, None when not pinned
    workers: int = 1
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        return proc_tree(self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> dict[str, Any]:
        """RSS now and peak (VmHWM) of each process of the server, in MiB."""
        per = {pid: rss_kib(pid) for pid in self.pids()}
        per = {pid: r for pid, r in per.items() if r}
        return {
            "rss_mib": round(sum(r.get("VmRSS", 0) for r in per.values()) / 1024, 1),
            "per_process": {
                str(pid): {
                    "process": "main" if pid == self.proc.pid else "child: " + _cmdline(pid)[-60:],
                    "rss_mib": round(r.get("VmRSS", 0) / 1024, 1),
                    "peak_rss_mib": round(r.get("VmHWM", 0) / 1024, 1),
                }
                for pid, r in per.items()
            },
            "peak_rss_mib": round(max((r.get("VmHWM", 0) for r in per.values()), default=0) / 1024, 1),
        }

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass


class ServerFailed(RuntimeError):
    pass


def start_server(
    name: str,
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log_path: Path,
    port: int,
    ready_path: str,
    cpus: str | None,
    workers: int = 1,
    timeout: float = 90.0,
) -> Server:
    """Start argv (under `taskset -c cpus` if given) and wait until GET ready_path answers 200."""
    cmd = (["taskset", "-c", cpus] if cpus else []) + argv
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(name, port, proc, log_path, cpus, workers)
    server.notes["command"] = " ".join(cmd)
    deadline = time.monotonic() + timeout
    ok_in_a_row = 0
    while time.monotonic() < deadline:
        if not server.alive():
            raise ServerFailed(
                f"{name} exited with {proc.returncode} while starting: {' '.join(cmd)}\n{server.log_tail()}"
            )
        status, _ = http_call(port, "GET", ready_path, timeout=2)
        ok_in_a_row = ok_in_a_row + 1 if status == 200 else 0
        # With several workers, wait until each has had a chance to bind and answer.
        if ok_in_a_row >= 3 and len(server.pids()) >= (workers + 1 if workers > 1 else 1):
            if workers > 1:
                time.sleep(2)
            return server
        time.sleep(0.2)
    server.stop()
    raise ServerFailed(
        f"{name} not ready on GET {ready_path} within {timeout:.0f}s: {' '.join(cmd)}\n{server.log_tail()}"
    )
