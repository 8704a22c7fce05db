"""Centrapay's 2026 roles × permissions table, read from its markdown (the oracle of the 2026 policy tests).

``tests/data/centrapay-roles-2026.md`` is a copy of ``../shared/reference/centrapay-roles-2026.md`` (checked
equal in tests/access/test_policy_centrapay_2026.py). Anything in it this reader does not understand fails
loudly: a new symbol, a new kind of cell, a role column renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE_MD = ROOT / "tests" / "data" / "centrapay-roles-2026.md"
SHARED_MD = ROOT.parent / "shared" / "reference" / "centrapay-roles-2026.md"
POLICY_FILE = ROOT / "examples" / "policies" / "centrapay-2026.yaml"

# What each symbol of the table's "Account Flags" asks, in the words of its description: whose account
# (the acting user's individual account, or the targeted account that owns the resource) and what it
# must have. The test sets exactly these facts in storage and never reads the policy's own definitions.
INDIVIDUAL, TARGET = "individual", "target"
TRUSTED, ISSUER, ORG, COLLECTIONS = "👤", "🧀", "🗄", "🪙"
FLAG_MEANING = {
    TRUSTED: (INDIVIDUAL, "a trusted user flag on the individual account", "trusted-user"),
    ISSUER: (TARGET, "an external-asset-issuer subscription on the targeted account", "external-asset-issuer"),
    ORG: (TARGET, "the targeted account must be of type org", "org"),
    COLLECTIONS: (TARGET, "a collection-manager subscription on the targeted account", "collection-manager"),
}
SYMBOLS = tuple(FLAG_MEANING)
CELLS = {"": (False, False), "✅": (True, False), "✅ ✸": (True, True)}  # (granted, global)


@dataclass(frozen=True)
class Row:
    permission: str
    flags: tuple[str, ...]  # symbols; at least one must be met when there are any
    cells: dict[str, tuple[bool, bool]]  # role → (granted, global)

    def allows(self, role: str, owned: bool, present: frozenset[str]) -> bool:
        """What the table says: the role's cell grants it (on the account's own resources, or ✸ on any
        account's), and at least one of the permission's flags is met when it has flags."""
        granted, is_global = self.cells[role]
        return granted and (owned or is_global) and (not self.flags or any(f in present for f in self.flags))


@dataclass(frozen=True)
class Table:
    roles: tuple[str, ...]  # "Account Owner" → account-owner
    flag_descriptions: dict[str, str]
    rows: tuple[Row, ...]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _section(text: str, heading: str) -> list[list[str]]:
    """The table rows under ``### heading`` (header first, the |---| line dropped)."""
    marker = f"### {heading}\n"
    if marker not in text:
        raise AssertionError(f"{TABLE_MD}: no section {heading!r}")
    lines = [ln for ln in text.split(marker, 1)[1].split("\n### ", 1)[0].splitlines() if ln.startswith("|")]
    return [_cells(ln) for i, ln in enumerate(lines) if i != 1]


def load(path: Path = TABLE_MD) -> Table:
    if not path.is_file():
        raise AssertionError(f"the reference table {path} is missing")
    text = path.read_text(encoding="utf-8")
    flags = {sym: desc for sym, desc in _section(text, "Account Flags")[1:]}
    if set(flags) != set(SYMBOLS):
        raise AssertionError(f"{path}: account flags {sorted(flags)}, this test knows {sorted(SYMBOLS)}")
    header, *body = _section(text, "Permissions")
    if header[0] != "Permission":
        raise AssertionError(f"{path}: the first column is {header[0]!r}")
    roles = tuple(name.lower().replace(" ", "-") for name in header[1:])
    rows = []
    for cells in body:
        name, *symbols = cells[0].split()
        unknown = [s for s in symbols if s not in FLAG_MEANING]
        odd = [c for c in cells[1:] if c not in CELLS]
        if unknown or odd or len(cells) != len(header) or ":" not in name:
            raise AssertionError(f"{path}: cannot read the row {cells}")
        rows.append(Row(name, tuple(symbols), {r: CELLS[c] for r, c in zip(roles, cells[1:], strict=True)}))
    return Table(roles, flags, tuple(rows))
