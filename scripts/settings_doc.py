"""Print docs/settings.md from the Settings model (`python scripts/settings_doc.py > docs/settings.md`)."""

from __future__ import annotations

from keyturn.settings import Settings


def render() -> str:
    lines = [
        "# Settings", "",
        "Every setting is an environment variable `KEYTURN_<NAME>` (upper case). Optionally",
        "`KEYTURN_SETTINGS_FILE` names a file: `*.toml` (`name = value`, optionally under `[keyturn]`)",
        "or a dotenv file of `KEYTURN_*=value` lines. Environment variables win over the file.",
        "Invalid values stop the server at start-up with a message naming the field.",
        "Generated from `keyturn.settings.Settings` by `scripts/settings_doc.py`; a test keeps it in sync.", "",
        "| variable | default | meaning |", "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        if default is None or default == ():
            shown = "(none)"
        else:
            shown = f"`{' '.join(default) if isinstance(default, tuple) else default}`"
        desc = (field.description or "").replace("|", "\\|")
        lines.append(f"| `KEYTURN_{name.upper()}` | {shown} | {desc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
