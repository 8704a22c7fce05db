"""The source distribution carries what the README and docs point at: docs/ and examples/policies/ (MANIFEST.in)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_sdist_has_the_docs_and_the_example_policies(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        raise AssertionError("this test builds from the repository's tracked files: run it in a git clone")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    tree = tmp_path / "tree"
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file() and not name.startswith("tests/js/"):
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    build = ("import sys; from setuptools import build_meta; "
             "print(build_meta.build_sdist(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=tree, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with tarfile.open(tmp_path / "dist" / done.stdout.strip().splitlines()[-1]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"examples/policies/centrapay-2026.yaml", "docs/policy.md", "README.md",
            "src/keyturn/policy/default.yaml"} <= names
