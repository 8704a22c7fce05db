"""Reading the policy file (``KEYTURN_POLICY_FILE``, default: seed 001's table) at the composition root."""

from __future__ import annotations

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
    return parse_policy(text, str(path))
