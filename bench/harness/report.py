"""Turning runs into the report: medians over passes, Keyturn/peer and ceiling ratios, markdown."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

Row = dict[str, Any]


class Jsonl:
    """The results file, written a line at a time so an interrupted run keeps what it measured."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def write(self, kind: str, **fields: Any) -> None:
        with open(self.path, "a") as out:
            out.write(json.dumps({"type": kind, **fields}, sort_keys=False) + "\n")


def summarise(runs: Iterable[Row]) -> list[Row]:
    """One row per (phase, target, scenario, conns): medians over passes, errors summed."""
    groups: dict[tuple[str, str, str, int], list[Row]] = {}
    for run in runs:
        groups.setdefault((run["phase"], run["target"], run["scenario"], run["conns"]), []).append(run)
    out = []
    for (phase, target, scenario, conns), rows in groups.items():

        def med(key: str, rows: list[Row] = rows) -> float | None:
            values = [r[key] for r in rows if r.get(key) is not None]
            return round(statistics.median(values), 3) if values else None

        out.append(
            {
                "phase": phase,
                "target": target,
                "scenario": scenario,
                "conns": conns,
                "passes": len(rows),
                "rps": med("rps"),
                "rps_min": min(r["rps"] for r in rows),
                "rps_max": max(r["rps"] for r in rows),
                "p50_ms": med("p50_ms"),
                "p99_ms": med("p99_ms"),
                "errors": sum(r["errors"] for r in rows),
                "requests": sum(r["requests"] for r in rows),
                "server_cpu_pct": med("server_cpu_pct"),
                "server_cpu_ms_per_req": med("server_cpu_ms_per_req"),
                "wrk_cpu_pct": med("wrk_cpu_pct"),
                "db_cpu_pct": med("db_cpu_pct"),
                "other_cpu_pct": med("other_cpu_pct"),
            }
        )
    return out


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(v: float | None) -> str | None:
    return None if v is None else f"{v:.0f}"


def main_table(rows: list[Row], titles: dict[str, str], labels: dict[str, str]) -> str:
    order = list(titles)
    rows = sorted(rows, key=lambda r: (order.index(r["scenario"]), r["conns"], list(labels).index(r["target"])))
    return table(
        [
            "scenario",
            "server",
            "conns",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "server CPU%",
            "server CPU ms/req",
            "wrk CPU%",
            "db CPU%",
            "other CPU%",
            "req/s min–max",
        ],
        [
            [
                titles[r["scenario"]],
                labels[r["target"]],
                r["conns"],
                r["rps"],
                r["p50_ms"],
                r["p99_ms"],
                f"{r['errors']} / {r['requests']:,}" + (" ⚠" if r["errors"] else ""),
                _pct(r["server_cpu_pct"]),
                r["server_cpu_ms_per_req"],
                _pct(r["wrk_cpu_pct"]),
                _pct(r["db_cpu_pct"]),
                _pct(r.get("other_cpu_pct")),
                f"{r['rps_min']:,.0f}–{r['rps_max']:,.0f}",
            ]
            for r in rows
        ],
    )


def row_of(rows: list[Row], target: str, scenario: str, conns: int) -> Row | None:
    for r in rows:
        if (r["target"], r["scenario"], r["conns"]) == (target, scenario, conns):
            return r
    return None


def rps_of(rows: list[Row], target: str, scenario: str, conns: int) -> float | None:
    r = row_of(rows, target, scenario, conns)
    return float(r["rps"]) if r and r["rps"] else None


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def ratio_table(
    rows: list[Row], pairs: list[tuple[str, str, str, str]], keyturns: dict[str, str], conns: Sequence[int]
) -> str:
    """pairs: (title, keyturn scenario, reference target, reference scenario)."""
    body = []
    for title, scenario, ref_target, ref_scenario in pairs:
        for c in conns:
            ref = rps_of(rows, ref_target, ref_scenario, c)
            body.append([title, c, ref] + [ratio(rps_of(rows, kt, scenario, c), ref) for kt in keyturns])
    return table(["Keyturn scenario / reference", "conns", "reference req/s", *keyturns.values()], body)


# A target of issue 11: (title, Keyturn scenario, peer target, peer scenario, minimum req/s ratio).
Target = tuple[str, str, str, str, float]


def targets_table(rows: list[Row], targets: list[Target], keyturns: dict[str, str], conns: Sequence[int]) -> str:
    """Each target, per Keyturn database and connection count, as three rows: req/s ≥ k × the
    peer's, p99 ≤ the peer's, zero errors; both numbers, their ratio, met or not met."""
    body: list[list[object]] = []
    for title, scenario, peer, peer_scenario, k in targets:
        for target, label in keyturns.items():
            for c in conns:
                ours, theirs = row_of(rows, target, scenario, c), row_of(rows, peer, peer_scenario, c)
                where = [title, label, c]
                a, b = (ours or {}).get("rps"), (theirs or {}).get("rps")
                body.append([*where, f"req/s ≥ {k:g}× peer", a, b, ratio(a, b), _met(a and b and a >= k * b, a, b)])
                a, b = (ours or {}).get("p99_ms"), (theirs or {}).get("p99_ms")
                body.append([*where, "p99 ≤ peer", a, b, ratio(a, b), _met(a and b and a <= b, a, b)])
                a, b = (ours or {}).get("errors"), (theirs or {}).get("errors")
                body.append([*where, "errors = 0", a, b, "–", _met(a == 0, a, 0)])
    verdicts = [str(row[-1]) for row in body]
    met, unmeasured = verdicts.count("met"), verdicts.count("not measured")
    summary = f"{met} of {len(verdicts)} met, {len(verdicts) - met - unmeasured} not met, {unmeasured} not measured."
    headers = ["target", "Keyturn", "conns", "goal", "Keyturn value", "peer value", "ratio", "met"]
    return summary + "\n\n" + table(headers, body)


def _met(ok: object, ours: object, theirs: object) -> str:
    if ours is None or theirs is None:
        return "not measured"
    return "met" if ok else "**not met**"
