"""Reading the policy file (``KEYTURN_POLICY_FILE``, default: seed 001's table) at the composition root."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from keyturn.core.policy import Policy, PolicyError
from keyturn.core.policy_format import parse_policy
from keyturn.settings import Settings

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "policy" / "default.yaml"


def load_policy(settings: Settings) -> Policy:
    """Read and validate the policy file; an invalid one raises PolicyError naming the line and field."""
    path = settings.policy_file or DEFAULT_POLICY
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    return _parsed(text, str(path))


@lru_cache(maxsize=8)
def _parsed(text: str, path: str) -> Policy:
    """One parse per file content (a Policy is immutable): every worker's start, and each test's services,
    read the same file; a changed file is parsed again."""
    return parse_policy(text, path)
