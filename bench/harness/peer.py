"""The peer, node-oidc-provider, from shared/peers/oidc-provider, installed into bench/.peer/.

shared/ may be read-only, so its files are copied and `npm install` runs in the copy. With
REFRESH=1 the peer rotates refresh tokens and mints a pool of them on
`POST /bench/mint-refresh?n=N` (its README).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .servers import Server, http_call, start_server

CLIENT_ID = "bench"
CLIENT_SECRET = "bench-secret-0123456789abcdef0123456789"
MINT_MAX = 10000  # refresh tokens per POST /bench/mint-refresh (server.mjs refuses more)


def find_source(repo: Path) -> Path:
    for candidate in (
        repo.parent / "shared" / "peers" / "oidc-provider",
        Path("/work/shared/peers/oidc-provider"),
    ):
        if (candidate / "server.mjs").exists():
            return candidate
    raise FileNotFoundError("shared/peers/oidc-provider not found beside the repo")


def install(source: Path, dest: Path, log: Callable[[str], None]) -> Path:
    """Copy the peer's files (not their read-only modes) into dest and npm-install them there."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file():
            shutil.copyfile(item, dest / item.name)
    log(f"npm install --no-audit --no-fund  (in {dest})")
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund"],
        cwd=dest,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm install failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
    return dest


def start(
    dest: Path, name: str, port: int, at_format: str, log_dir: Path, cpus: str | None, refresh: bool = False
) -> Server:
    env = {
        **os.environ,
        "PORT": str(port),
        "AT_FORMAT": at_format,
        "AT_ALG": "ES256",
        "NODE_ENV": "production",
        "REFRESH": "1" if refresh else "0",
    }
    return start_server(
        name,
        ["node", "server.mjs"],
        env=env,
        cwd=dest,
        log_path=log_dir / f"{name}.log",
        port=port,
        ready_path="/.well-known/openid-configuration",
        cpus=cpus,
    )


def mint_refresh(port: int, n: int) -> list[str]:
    """n refresh tokens of the REFRESH=1 peer, one grant each, in calls of at most MINT_MAX."""
    tokens: list[str] = []
    while len(tokens) < n:
        k = min(MINT_MAX, n - len(tokens))
        status, body = http_call(port, "POST", f"/bench/mint-refresh?n={k}", timeout=120)
        try:
            got = json.loads(body) if status == 200 else None
        except ValueError:
            got = None
        if not isinstance(got, list) or len(got) != k or not all(isinstance(t, str) and t for t in got):
            raise RuntimeError(f"POST /bench/mint-refresh?n={k} -> {status} {body[:400]!r}")
        tokens += got
    return tokens
