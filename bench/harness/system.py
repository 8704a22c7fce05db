"""The machine under test: installing tools, describing the machine, and reading /proc.

CPU is counted per process (utime + stime from /proc/PID/stat) so that the server, the
load generator and PostgreSQL are each charged for their own work, whatever core they ran on.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")

_apt_updated = False


def ensure_tools(needed: dict[str, str], log: Callable[[str], None]) -> list[str]:
    """Install with apt the Debian package of each command in `needed` that is missing."""
    global _apt_updated
    missing = sorted({pkg for cmd, pkg in needed.items() if shutil.which(cmd) is None})
    if not missing:
        return []
    if os.geteuid() != 0:
        raise RuntimeError(f"missing {missing} and not root: run `apt-get install -y {' '.join(missing)}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        log("apt-get update")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL, timeout=300)
        _apt_updated = True
    log(f"apt-get install -y {' '.join(missing)}")
    subprocess.run(
        ["apt-get", "install", "-y", "-q", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    still = [cmd for cmd in needed if shutil.which(cmd) is None]
    if still:
        raise RuntimeError(f"still missing after apt-get install: {still}")
    return missing


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def proc_tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            tree.append(pid)
            todo.extend(children.get(pid, []))
    return tree


def pids_named(comm: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == comm:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def cpu_ticks(pids: Iterable[int]) -> dict[int, int]:
    ticks = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of one process, in KiB; empty if it is gone."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        return {}
    return out


def _cpu_busy() -> dict[str, tuple[int, int]]:
    """Busy and total jiffies per CPU line of /proc/stat (user+nice+system+irq+softirq+steal)."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            f = [int(x) for x in line.split()[1:9]]
            out[line.split()[0]] = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7], sum(f))
    return out


class CpuMeter:
    """CPU used by groups of processes (and by each core) between start() and stop()."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = groups

    def start(self) -> None:
        self._before = {name: cpu_ticks(find()) for name, find in self._groups.items()}
        self._cores = _cpu_busy()
        self._t0 = time.monotonic()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        out: dict[str, Any] = {}
        for name, find in self._groups.items():
            before, after = self._before[name], cpu_ticks(find())
            # A process that appeared during the run (a new DB backend) counts from zero.
            used = {pid: round(100.0 * (t - before.get(pid, 0)) / CLK_TCK / wall, 1) for pid, t in after.items()}
            out[f"{name}_cpu_pct"] = round(sum(used.values()), 1)
            if name == "server" and len(used) > 1:  # how the load spread over the workers
                out["server_cpu_pct_by_pid"] = used
        for core, (busy, total) in _cpu_busy().items():
            b0, t0 = self._cores.get(core, (busy, total))
            out[f"{core}_busy_pct"] = round(100.0 * (busy - b0) / max(1, total - t0), 1)
        return out


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else f"unavailable (exit {done.returncode})"


def machine_info(keyturn_python: str, peer_dir: Path | None) -> dict[str, object]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    peer_version = None
    if peer_dir is not None:
        pkg = peer_dir / "node_modules" / "oidc-provider" / "package.json"
        if pkg.exists():
            peer_version = json.loads(pkg.read_text()).get("version")
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "python": _version([keyturn_python, "--version"]),
        "node": _version(["node", "--version"]),
        "wrk": _version(["wrk", "-v"]),
        "oidc_provider": peer_version,
        "postgres": _version(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-tAc", "show server_version"]
        ),
    }
